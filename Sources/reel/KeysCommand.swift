import ArgumentParser
import Catalog
import Foundation
import Server

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "API keys for uploading and administration.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print it (only once: the catalog keeps a hash).")
        @OptionGroup var data: DataOptions
        @Option(help: "A name to recognise the key by.") var name: String
        @Option(help: "upload (upload, list, read) or admin (also delete and retry).") var scope: APIKeyScope = .upload

        func run() async throws {
            let catalog = try await data.openCatalog(logger: data.logger("reel.keys"))
            let key = Authenticator.newKey()
            let record = try await catalog.createAPIKey(name: name, scope: scope, secretHash: key.hash)
            print(key.secret)
            printError("reel: created \(record.scope.rawValue) key '\(record.name)' (id \(record.id)); it is shown only this once")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var data: DataOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let keys = try await data.openCatalog(logger: data.logger("reel.keys")).apiKeys()
            if json {
                struct Shown: Encodable { var id, name, scope: String; var createdAt: Date; var revokedAt: Date? }
                try printJSON(keys.map { Shown(id: $0.id, name: $0.name, scope: $0.scope.rawValue, createdAt: $0.createdAt, revokedAt: $0.revokedAt) })
                return
            }
            for key in keys {
                let state = key.revokedAt.map { "revoked \(ISO8601DateFormatter().string(from: $0))" } ?? "active"
                print("\(key.id)  \(key.scope.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0))  \(state.padding(toLength: 28, withPad: " ", startingAt: 0))  \(key.name)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id; requests with it get 401 at once.")
        @OptionGroup var data: DataOptions
        @Argument(help: "The key's id (see 'reel keys list').") var id: String

        func run() async throws {
            try await data.openCatalog(logger: data.logger("reel.keys")).revokeAPIKey(id: id)
            print("revoked \(id)")
        }
    }
}

extension APIKeyScope: ExpressibleByArgument {}
