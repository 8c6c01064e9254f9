import Foundation
import GRDB
import Logging
import PostgresNIO

/// Copies a SQLite catalog into an empty PostgreSQL one (`reel catalog migrate`).
///
/// Table by table, in an order the foreign keys accept: keys before the videos they own, videos before
/// their renditions and jobs, jobs by id (a parent job is always inserted before its children, so its id
/// is smaller). The columns are the PostgreSQL table's — its schema mirrors SQLite's column for column,
/// and a column missing on either side stops the copy — and each value is read by GRDB and bound as that
/// column's type. Everything happens in one PostgreSQL transaction, committed only if the target was
/// empty and, after the copy, every table holds as many rows (per state, where it has one) as the SQLite
/// file does. Rows and ids are copied as they are; identity sequences continue past the copied ids.
///
/// Nothing may write to the SQLite file meanwhile: stop every Reel process first. (A write during the
/// copy usually shows up as a count that does not match, and then nothing is committed.)
public enum CatalogCopier {
    /// One table to copy. Another table is one more entry in `tables`.
    struct Table: Sendable {
        var name: String
        /// The order rows are read and inserted in; it must end with the primary key (pages are read by offset).
        var order: String
        /// Rows are also counted per value of this expression (valid SQL for both databases).
        var countBy: String?
        /// An identity column whose sequence must continue past the copied ids (and past ids SQLite
        /// already handed out, `sqlite_sequence`, so that no id is ever reused).
        var identity: String?
    }

    static let tables: [Table] = [
        Table(name: "api_keys", order: "created_at, id",
              countBy: "CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END"),
        Table(name: "videos", order: "created_at, id", countBy: "state"),
        Table(name: "renditions", order: "video_id, name"),
        Table(name: "jobs", order: "id", countBy: "state", identity: "id"),
        Table(name: "uploads", order: "created_at, id",
              countBy: "CASE WHEN video_id IS NULL THEN 'in progress' ELSE 'finished' END"),
        Table(name: "webhooks", order: "created_at, id"),
        Table(name: "webhook_deliveries", order: "id", countBy: "state", identity: "id"),
    ]

    /// Rows read from SQLite and inserted into PostgreSQL at a time.
    static let pageSize = 500

    /// Rows on both sides after the copy, per table and per group (`countBy`).
    public struct Count: Sendable, Equatable, Encodable {
        public var table: String
        /// Nil: the whole table.
        public var group: String?
        public var sqlite: Int
        public var postgres: Int
    }

    public struct Report: Sendable, Encodable {
        public var counts: [Count]
        /// The id the next row of each table with an identity column will get.
        public var nextIds: [String: Int64]
    }

    /// Copies every row of `source` into `target` (already connected, so its schema is migrated).
    /// Throws, with nothing written, when the target already holds rows or the counts do not match.
    /// `beforeVerifying` runs after the rows are inserted and before they are counted (tests use it).
    public static func copy(from source: SQLiteCatalog, to target: PostgresCatalog) async throws -> Report {
        try await copy(from: source, to: target, beforeVerifying: {})
    }

    static func copy(from source: SQLiteCatalog, to target: PostgresCatalog,
                     beforeVerifying: @escaping @Sendable () async throws -> Void) async throws -> Report {
        let logger = target.logger
        let place = "\(target.url)"
        return try await target.transaction { connection in
            // No Reel node may write to these tables until the copy commits (readers are not blocked).
            let names = tables.map(\.name).joined(separator: ", ")
            try await connection.all(PostgresQuery(unsafeSQL: "LOCK TABLE \(names) IN EXCLUSIVE MODE"), logger)
            let existing = try await postgresCounts(connection, logger).filter { $0.group == nil && $0.rows > 0 }
            guard existing.isEmpty else {
                throw CatalogError.invalid("""
                    PostgreSQL catalog \(place) already holds rows (\(existing.map { "\($0.table): \($0.rows)" }.joined(separator: ", "))): \
                    migrate into a new, empty database. Nothing was written.
                    """)
            }
            try await checkEveryTableIsKnown(connection, logger)
            var nextIds: [String: Int64] = [:]
            for table in tables {
                let columns = try await Self.columns(of: table, connection, source, logger)
                var copied = 0
                while true {
                    let offset = copied
                    let page = try await source.read { db in try readPage(db, table, columns, offset: offset) }
                    if page.isEmpty { break }
                    try await connection.all(insert(page, into: table, columns), logger)
                    copied += page.count
                }
                // A sequence starts at 1: with no id handed out yet (0 or none) there is nothing to move.
                if let identity = table.identity, let last = try await lastIdentity(table, identity, connection, source, logger),
                   last > 0 {
                    try await connection.all("SELECT setval(pg_get_serial_sequence(\(table.name), \(identity)), \(last))", logger)
                    nextIds[table.name] = last + 1
                }
            }
            try await beforeVerifying()
            let counts = try await verify(connection, source, place: place, logger)
            return Report(counts: counts, nextIds: nextIds)
        }
    }

    /// A table of the schema missing from `tables` would be left behind without a word: refuse instead.
    static func checkEveryTableIsKnown(_ connection: PostgresConnection, _ logger: Logger) async throws {
        let known = Set(tables.map(\.name) + ["reel_schema"])
        let present = try await connection.all("""
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
            """, logger).map { try $0.decode(String.self) }
        let unknown = present.filter { !known.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw CatalogError.invalid("""
                the catalog has tables this build of Reel cannot copy (\(unknown.joined(separator: ", "))); nothing was written
                """)
        }
    }

    // MARK: - Columns and values

    /// The PostgreSQL types the copy knows how to bind.
    enum ColumnType: String, Sendable {
        case text
        case integer
        case real
        case timestamp
        case boolean

        init?(postgres type: String) {
            switch type {
            case "text", "character varying": self = .text
            case "bigint", "integer", "smallint": self = .integer
            case "double precision", "real": self = .real
            case "timestamp with time zone": self = .timestamp
            case "boolean": self = .boolean
            default: return nil
            }
        }
    }

    struct Column: Sendable {
        var name: String
        var type: ColumnType
        /// The type as PostgreSQL spells it, for the casts in the INSERT.
        var postgresType: String
        /// Quoted, since a column may be named like a keyword (`uploads."offset"`).
        var quotedName: String { "\"\(name)\"" }
    }

    /// The target table's columns, which must be exactly the SQLite table's.
    static func columns(of table: Table, _ connection: PostgresConnection, _ source: SQLiteCatalog,
                        _ logger: Logger) async throws -> [Column] {
        let rows = try await connection.all("""
            SELECT column_name::text, data_type::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table.name)
            ORDER BY ordinal_position
            """, logger)
        let columns = try rows.map { row in
            let (name, type) = try row.decode((String, String).self)
            guard let known = ColumnType(postgres: type) else {
                throw CatalogError.invalid("column \(table.name).\(name) has type \(type), which the copy does not know")
            }
            return Column(name: name, type: known, postgresType: type)
        }
        let sqliteNames = try await source.read { db in try Set(db.columns(in: table.name).map(\.name)) }
        let postgresNames = Set(columns.map(\.name))
        guard sqliteNames == postgresNames else {
            let missing = sqliteNames.subtracting(postgresNames).sorted(), extra = postgresNames.subtracting(sqliteNames).sorted()
            throw CatalogError.invalid("""
                table \(table.name) differs between the catalogs (only in SQLite: \(missing.joined(separator: ", ")); \
                only in PostgreSQL: \(extra.joined(separator: ", "))): are both at this build's schema?
                """)
        }
        return columns
    }

    /// A value on its way from SQLite to PostgreSQL.
    enum Value: Sendable {
        case null
        case text(String)
        case integer(Int64)
        case real(Double)
        case timestamp(Milliseconds)
        case boolean(Bool)
    }

    static func readPage(_ db: Database, _ table: Table, _ columns: [Column], offset: Int) throws -> [[Value]] {
        let list = columns.map(\.quotedName).joined(separator: ", ")
        return try Row.fetchAll(db, sql: "SELECT \(list) FROM \(table.name) ORDER BY \(table.order) LIMIT ? OFFSET ?",
                                arguments: [pageSize, offset]).map { row in
            try columns.enumerated().map { index, column in
                let stored: DatabaseValue = row[index]
                guard let value = Self.value(stored, as: column.type) else {
                    throw CatalogError.invalid("\(table.name).\(column.name) holds \(stored), which is not a valid \(column.type.rawValue)")
                }
                return value
            }
        }
    }

    static func value(_ stored: DatabaseValue, as type: ColumnType) -> Value? {
        if stored.isNull { return .null }
        switch type {
        case .text: return String.fromDatabaseValue(stored).map(Value.text)
        case .integer: return Int64.fromDatabaseValue(stored).map(Value.integer)
        case .real: return Double.fromDatabaseValue(stored).map(Value.real)
        case .timestamp: return Date.fromDatabaseValue(stored).map { .timestamp(Milliseconds($0)) }
        case .boolean: return Bool.fromDatabaseValue(stored).map(Value.boolean)
        }
    }

    /// One multi-row INSERT of a page, every value a bind cast to its column's type.
    static func insert(_ page: [[Value]], into table: Table, _ columns: [Column]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: page.count * columns.count)
        var tuples: [String] = []
        for row in page {
            var placeholders: [String] = []
            for (value, column) in zip(row, columns) {
                switch value {
                case .null: bindings.appendNull()
                case .text(let text): bindings.append(text)
                case .integer(let number): bindings.append(number)
                case .real(let number): bindings.append(number)
                case .timestamp(let time): bindings.append(time)
                case .boolean(let flag): bindings.append(flag)
                }
                placeholders.append("$\(bindings.count)::\(column.postgresType)")
            }
            tuples.append("(" + placeholders.joined(separator: ", ") + ")")
        }
        let sql = "INSERT INTO \(table.name) (\(columns.map(\.quotedName).joined(separator: ", "))) VALUES "
            + tuples.joined(separator: ", ")
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }

    /// The highest id copied or ever handed out by SQLite; nil when the table never had a row.
    static func lastIdentity(_ table: Table, _ identity: String, _ connection: PostgresConnection,
                             _ source: SQLiteCatalog, _ logger: Logger) async throws -> Int64? {
        let copied = try await connection.all(PostgresQuery(unsafeSQL: "SELECT MAX(\(identity)) FROM \(table.name)"), logger)[0]
            .decode(Int64?.self)
        let handedOut = try await source.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = ?", arguments: [table.name])
        }
        return [copied, handedOut].compactMap { $0 }.max()
    }

    // MARK: - Counts

    struct GroupCount: Hashable {
        var table: String
        var group: String?
        var rows: Int
    }

    static func countQueries(_ table: Table) -> [String] {
        var queries = ["SELECT CAST(NULL AS TEXT), COUNT(*) FROM \(table.name)"]
        if let expression = table.countBy {
            queries.append("SELECT CAST(\(expression) AS TEXT) AS g, COUNT(*) FROM \(table.name) GROUP BY g ORDER BY g")
        }
        return queries
    }

    static func postgresCounts(_ connection: PostgresConnection, _ logger: Logger) async throws -> [GroupCount] {
        var counts: [GroupCount] = []
        for table in tables {
            for query in countQueries(table) {
                for row in try await connection.all(PostgresQuery(unsafeSQL: query), logger) {
                    let (group, rows) = try row.decode((String?, Int).self)
                    counts.append(GroupCount(table: table.name, group: group, rows: rows))
                }
            }
        }
        return counts
    }

    static func sqliteCounts(_ source: SQLiteCatalog) async throws -> [GroupCount] {
        try await source.read { db in
            try tables.flatMap { table in
                try countQueries(table).flatMap { query in
                    try Row.fetchAll(db, sql: query).map { row in
                        GroupCount(table: table.name, group: row[0], rows: row[1])
                    }
                }
            }
        }
    }

    /// Counts both sides (SQLite afresh, so that a write during the copy shows) and throws unless they match.
    static func verify(_ connection: PostgresConnection, _ source: SQLiteCatalog, place: String,
                       _ logger: Logger) async throws -> [Count] {
        let sqlite = try await sqliteCounts(source)
        let postgres = try await postgresCounts(connection, logger)
        struct Key: Hashable { var table: String; var group: String? }
        var merged: [Key: Count] = [:]
        var order: [Key] = []
        for (side, counts) in [(0, sqlite), (1, postgres)] {
            for count in counts {
                let key = Key(table: count.table, group: count.group)
                if merged[key] == nil {
                    merged[key] = Count(table: count.table, group: count.group, sqlite: 0, postgres: 0)
                    order.append(key)
                }
                if side == 0 { merged[key]!.sqlite = count.rows } else { merged[key]!.postgres = count.rows }
            }
        }
        let counts = order.map { merged[$0]! }
        let differences = counts.filter { $0.sqlite != $0.postgres }
        guard differences.isEmpty else {
            let listed = differences.map { "\($0.table)\($0.group.map { " (\($0))" } ?? ""): \($0.sqlite) in SQLite, \($0.postgres) in PostgreSQL" }
            throw CatalogError.invalid("""
                the copy does not match the SQLite catalog (\(listed.joined(separator: "; "))); nothing was written to \(place). \
                Was a Reel process still using the SQLite catalog? Stop them all and run the migration again.
                """)
        }
        return counts
    }
}

/// A SQLite date (UTC text with milliseconds) bound as exactly those milliseconds. (Binding the `Date`
/// itself truncates its binary fraction: …12.345 could arrive as …12.344999.)
struct Milliseconds: PostgresNonThrowingEncodable, Sendable {
    /// Since 1970.
    var value: Int64

    init(_ date: Date) { value = Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    /// Microseconds since 2000-01-01, PostgreSQL's epoch.
    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer,
                                                  context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger((value - 946_684_800_000) * 1000)
    }
}
