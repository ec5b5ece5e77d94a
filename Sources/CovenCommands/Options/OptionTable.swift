import Foundation

/// One command's options as data: the same table parses argv and writes `--help`, so the
/// two cannot drift. Every command (`sandbox exec`, `run-task`, `serve`, `doctor`, `tasks …`)
/// has one; groups of options shared by several commands are functions returning options.
public struct OptionTable<State>: Sendable {
    public struct Option: Sendable {
        public enum Action: Sendable {
            /// Takes no value.
            case flag(@Sendable (inout State) throws -> Void)
            /// Takes one value, as `--name VALUE` or `--name=VALUE`.
            case value(String, @Sendable (inout State, String) throws -> Void)
            /// Takes every argument after it, verbatim (`--runtime CMD [ARGS...]`).
            case rest(String, @Sendable (inout State, [String]) throws -> Void)
        }

        public let names: [String]
        public let action: Action
        public let help: String

        public static func flag(_ names: String..., help: String, _ apply: @escaping @Sendable (inout State) throws -> Void) -> Option {
            Option(names: names, action: .flag(apply), help: help)
        }

        public static func value(_ names: String..., metavar: String, help: String,
                                 _ apply: @escaping @Sendable (inout State, String) throws -> Void) -> Option {
            Option(names: names, action: .value(metavar, apply), help: help)
        }

        public static func rest(_ name: String, metavar: String, help: String,
                                _ apply: @escaping @Sendable (inout State, [String]) throws -> Void) -> Option {
            Option(names: [name], action: .rest(metavar, apply), help: help)
        }

        init(names: [String], action: Action, help: String) {
            self.names = names
            self.action = action
            self.help = help
        }

        var metavar: String? {
            switch action {
            case .flag: return nil
            case .value(let m, _): return m
            case .rest(let m, _): return m
            }
        }
    }

    /// What the arguments that are not options mean.
    public enum Operands: Sendable {
        /// None are allowed.
        case none
        /// Each is handed over in turn (`tasks show ID`); the name is for the help.
        case each(String, @Sendable (inout State, String) throws -> Void)
        /// The first one, or whatever follows `--`, starts a command line taken verbatim.
        case command(String, @Sendable (inout State, [String]) throws -> Void)
    }

    public enum Parsed: Equatable { case run, help }

    public var usage: [String]
    public var about: String
    public var options: [Option]
    public var operands: Operands
    /// Text after the options (signals, exit status).
    public var notes: String

    public init(usage: [String], about: String, options: [Option], operands: Operands = .none, notes: String = "") {
        self.usage = usage
        self.about = about
        self.options = options
        self.operands = operands
        self.notes = notes
    }

    static var helpNames: [String] { ["-h", "--help"] }

    /// Applies `args` to `state`; `.help` when `-h`/`--help` came first among the options.
    public func parse(_ args: [String], into state: inout State) throws -> Parsed {
        var i = 0
        func operand(_ arg: String) throws -> Bool {
            switch operands {
            case .none:
                throw CLI.UsageError("unexpected argument '\(arg)'")
            case .each(_, let apply):
                try apply(&state, arg)
                return false
            case .command(_, let apply):
                try apply(&state, Array(args[i...]))
                return true
            }
        }
        while i < args.count {
            let arg = args[i]
            if arg == "--" {
                i += 1
                if case .command(_, let apply) = operands { try apply(&state, Array(args[i...])); return .run }
                while i < args.count { _ = try operand(args[i]); i += 1 }
                return .run
            }
            if Self.helpNames.contains(arg) { return .help }
            guard arg.hasPrefix("-"), arg != "-" else {
                if try operand(arg) { return .run }
                i += 1
                continue
            }
            let (name, inline) = Self.split(arg)
            guard let option = options.first(where: { $0.names.contains(name) }) else {
                throw CLI.UsageError("unknown option '\(name)'")
            }
            switch option.action {
            case .flag(let apply):
                if inline != nil { throw CLI.UsageError("\(name) takes no value") }
                try apply(&state)
            case .value(_, let apply):
                let value: String
                if let inline { value = inline } else {
                    i += 1
                    guard i < args.count else { throw CLI.UsageError("\(name) needs a value") }
                    value = args[i]
                }
                try apply(&state, value)
            case .rest(_, let apply):
                try apply(&state, (inline.map { [$0] } ?? []) + Array(args[(i + 1)...]))
                return .run
            }
            i += 1
        }
        return .run
    }

    /// `--name=value` → ("--name", "value"); only long options take the inline form.
    static func split(_ arg: String) -> (String, String?) {
        guard arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") else { return (arg, nil) }
        return (String(arg[..<eq]), String(arg[arg.index(after: eq)...]))
    }

    // MARK: - Help

    static var width: Int { 80 }
    static var column: Int { 26 }

    /// The `--help` text, generated from the table.
    public var help: String {
        var out = "usage: " + usage.joined(separator: "\n       ") + "\n"
        if !about.isEmpty { out += "\n" + Self.wrap(about, indent: 0) + "\n" }
        out += "\noptions:\n"
        for o in options { out += Self.entry(o.names, o.metavar, o.help) }
        out += Self.entry(Self.helpNames, nil, "show this help")
        if !notes.isEmpty { out += "\n" + notes.split(separator: "\n\n", omittingEmptySubsequences: false)
            .map { Self.wrap(String($0), indent: 0) }.joined(separator: "\n\n") + "\n" }
        return out
    }

    static func entry(_ names: [String], _ metavar: String?, _ help: String) -> String {
        let left = "  " + names.joined(separator: ", ") + (metavar.map { " " + $0 } ?? "")
        let body = wrap(help, indent: column).dropFirst(column)
        if left.count <= column - 2 {
            return left.padding(toLength: column, withPad: " ", startingAt: 0) + body + "\n"
        }
        return left + "\n" + String(repeating: " ", count: column) + body + "\n"
    }

    /// Words of `text` in lines of at most `width`, each indented by `indent`.
    static func wrap(_ text: String, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        var lines: [String] = []
        var line = ""
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if !line.isEmpty && pad.count + line.count + 1 + word.count > width {
                lines.append(pad + line)
                line = String(word)
            } else {
                line += (line.isEmpty ? "" : " ") + word
            }
        }
        if !line.isEmpty || lines.isEmpty { lines.append(pad + line) }
        return lines.joined(separator: "\n")
    }
}
