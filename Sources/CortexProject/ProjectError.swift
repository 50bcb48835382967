import Foundation

/// An error about the project directory with a message a user can act on.
///
/// Messages name the file (and, for line-oriented files, the 1-based line) at
/// fault, e.g. `.env:3: expected VARIABLE=value, got "oops"`.
public struct ProjectError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The full, user-facing message.
    public var message: String

    /// Creates an error with the given user-facing message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    public var errorDescription: String? { message }
}
