import Foundation

/// Where `cortex` keeps its own state (the environments file, the local operator's state), shared by
/// the cluster commands and the local operator (`OperatorHome.resolve`).
public enum CortexHome {
    /// `$CORTEX_HOME` when set and not empty, else `$XDG_STATE_HOME/cortex`, else
    /// `$HOME/.local/state/cortex` (the XDG default), for the given process environment; relative
    /// settings are made absolute.
    public static func path(environment: [String: String]) -> String {
        if let home = environment["CORTEX_HOME"], !home.isEmpty { return absolute(home) }
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty { return absolute(state) + "/cortex" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return absolute(home) + "/.local/state/cortex"
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
