/// One field of a parsed form.
///
/// A `multipart/form-data` part whose `Content-Disposition` carries a `filename` parameter (even an
/// empty one) is a file upload, as in starlette (an `UploadFile`); every other part, and every
/// `application/x-www-form-urlencoded` field, is a plain value.
public struct FormPart: Sendable, Equatable {
    /// The field name (`name` parameter, or the urlencoded key after decoding).
    public var name: String
    /// The client's file name; non-nil exactly when the part is a file upload.
    public var filename: String?
    /// The part's `Content-Type` header, if it had one (always nil for urlencoded fields).
    public var contentType: String?
    /// The part's bytes, exactly as sent (binary-safe); for urlencoded fields the percent-decoded value.
    public var value: [UInt8]

    /// Whether the part is a file upload (it has a `filename`).
    public var isFile: Bool { filename != nil }

    public init(name: String, filename: String? = nil, contentType: String? = nil, value: [UInt8]) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.value = value
    }
}

/// One multipart part as a byte range over the body it was parsed from: the part's data is not
/// copied (the front sends the body as-is and the ranges to the worker).
public struct FormPartRange: Sendable, Equatable {
    public var name: String
    /// The client's file name; non-nil exactly when the part is a file upload.
    public var filename: String?
    public var contentType: String?
    /// Where the part's bytes are in the body.
    public var range: Range<Int>

    public var isFile: Bool { filename != nil }

    public init(name: String, filename: String?, contentType: String?, range: Range<Int>) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.range = range
    }
}

/// Why a body could not be parsed; `description` is a message for a 400 response naming the problem.
public struct FormParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A one-line, client-facing explanation (printable ASCII plus any UTF-8 from the field names).
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Bounds on what one form body may contain, checked while parsing.
public struct FormLimits: Sendable {
    /// The most parts (multipart) or fields (urlencoded) a body may hold.
    public var maxParts = 1000
    /// The most bytes one multipart part's header block may take (its header lines with their line
    /// endings, not counting the empty line that ends the block).
    public var maxHeaderBytesPerPart = 16 * 1024

    public init(maxParts: Int = 1000, maxHeaderBytesPerPart: Int = 16 * 1024) {
        self.maxParts = maxParts
        self.maxHeaderBytesPerPart = maxHeaderBytesPerPart
    }
}
