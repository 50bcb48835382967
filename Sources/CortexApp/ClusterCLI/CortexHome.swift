/// Where `cortex` keeps its own state (the environments file, the local operator's state), shared by
/// the cluster commands and the local operator.
public enum CortexHome {
    /// `$CORTEX_HOME` when set and not empty, else `$XDG_STATE_HOME/cortex`, else
    /// `$HOME/.local/state/cortex` (the XDG default), for the given process environment.
    public static func path(environment: [String: String]) -> String {
        if let home = environment["CORTEX_HOME"], !home.isEmpty { return home }
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty { return state + "/cortex" }
        return (environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/root") + "/.local/state/cortex"
    }
}
