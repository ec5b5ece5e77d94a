import Foundation
import CovenCommands
import Adapter

/// `coven-supervisor store migrate --from sqlite:PATH --to postgres (--url-file FILE | --config FILE)`
enum StoreCommand {
    struct Options {
        var from: String?
        var to: String?
        var urlFile: String?
        var configPath: String?
    }

    static let migrateTable = OptionTable<Options>(
        usage: ["coven-supervisor store migrate --from sqlite:PATH --to postgres",
                "    (--url-file FILE | --config FILE)"],
        about: "Copies a single host's SQLite store (tasks, attempts, deliveries, the publication outbox, usage) "
            + "into an empty PostgreSQL database, for fleet mode. Stop the daemon first: a file another process "
            + "has open is refused. The SQLite file is brought to the current schema (as serve would) and otherwise "
            + "left untouched; the copy is one PostgreSQL transaction, checked table by table before it commits, so "
            + "a failure leaves the database as it was. Attempts left running (a daemon that was killed) get an "
            + "expired lease: the fleet retries them as crashes. A database that already has rows is refused.",
        options: [
            .value("--from", metavar: "sqlite:PATH", help: "the SQLite database to copy (e.g. sqlite:/var/lib/coven/coven.db)") {
                $0.from = $1
            },
            .value("--to", metavar: "postgres", help: "the target engine: postgres") { $0.to = $1 },
            .value("--url-file", metavar: "FILE", help: "a file (mode 0600) holding the libpq connection string") {
                $0.urlFile = $1
            },
            .value("--config", metavar: "FILE", help: "take the url_file from this configuration's store section instead") {
                $0.configPath = $1
            },
        ],
        notes: "The connection string is read from its file only: never give it on the command line.\n\n"
            + "exit status: 0 when everything was copied and committed, 1 when nothing was, 2 on a usage error.")

    static var help: String {
        """
        usage: coven-supervisor store <command> [options]

        commands:
          migrate   copy a SQLite store into an empty PostgreSQL database (fleet mode)

        Run 'coven-supervisor store migrate --help' for its options.

        """
    }

    static func main(_ args: [String]) -> Int32 {
        guard let sub = args.first else { CLI.fail(help); return 2 }
        if ["-h", "--help", "help"].contains(sub) { print(help, terminator: ""); return 0 }
        guard sub == "migrate" else { CLI.fail("store: unknown command '\(sub)'\n\n\(help)"); return 2 }

        var o = Options()
        let sqlitePath: String, urlFile: String
        do {
            if try migrateTable.parse(Array(args.dropFirst()), into: &o) == .help { print(migrateTable.help); return 0 }
            guard let from = o.from else { throw CLI.UsageError("--from sqlite:PATH is required") }
            guard from.hasPrefix("sqlite:"), from.count > "sqlite:".count else {
                throw CLI.UsageError("--from: '\(from)' is not sqlite:PATH")
            }
            sqlitePath = String(from.dropFirst("sqlite:".count))
            guard o.to == "postgres" else { throw CLI.UsageError("--to postgres is required") }
            switch (o.urlFile, o.configPath) {
            case (let file?, nil): urlFile = file
            case (nil, let config?):
                do { urlFile = try StoreMigration.urlFile(configPath: config) } catch {
                    CLI.fail("store migrate: \(error)")
                    return 1
                }
            case (nil, nil): throw CLI.UsageError("give --url-file FILE or --config FILE")
            case (_?, _?): throw CLI.UsageError("give --url-file or --config, not both")
            }
        } catch {
            return CLI.failure("store migrate", error, status: 2)
        }

        do {
            let summary = try StoreMigration.run(sqlitePath: sqlitePath, urlFile: urlFile)
            print("store migrate: copied \(sqlitePath) into PostgreSQL (one transaction, committed)")
            let width = summary.map(\.table.count).max() ?? 0
            for (table, rows) in summary {
                print("  " + table.padding(toLength: width + 2, withPad: " ", startingAt: 0) + "\(rows) row\(rows == 1 ? "" : "s")")
            }
            print("store migrate: \(sqlitePath) is unchanged; point the daemons' store at PostgreSQL before starting them")
            return 0
        } catch {
            CLI.fail("store migrate: \(error)")
            return 1
        }
    }
}
