import GRDB

/// The catalog's schema, one migration per change. Never edit a shipped migration: add the next one.
///
/// Dates are GRDB dates: UTC text `YYYY-MM-DD HH:MM:SS.SSS`, which sort and compare correctly as text.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE videos (
                    id TEXT PRIMARY KEY NOT NULL,
                    title TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('queued', 'processing', 'ready', 'failed')),
                    original_path TEXT NOT NULL,
                    size_bytes INTEGER NOT NULL,
                    sha256 TEXT,
                    probe_json TEXT,
                    duration_seconds REAL,
                    progress REAL NOT NULL DEFAULT 0,
                    published_segments INTEGER NOT NULL DEFAULT 0,
                    error TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    playable_at TEXT,
                    ready_at TEXT
                );
                -- Listing by state, newest first.
                CREATE INDEX videos_by_state ON videos(state, created_at);
                CREATE INDEX videos_by_created ON videos(created_at);

                CREATE TABLE renditions (
                    video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    width INTEGER,
                    height INTEGER,
                    codecs TEXT NOT NULL,
                    bandwidth INTEGER NOT NULL,
                    average_bandwidth INTEGER NOT NULL,
                    playlist_path TEXT NOT NULL,
                    PRIMARY KEY (video_id, name)
                );

                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN
                        ('waiting', 'queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')),
                    priority INTEGER NOT NULL DEFAULT 0,
                    attempt INTEGER NOT NULL DEFAULT 0,
                    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
                    run_after TEXT NOT NULL,
                    lease_owner TEXT,
                    lease_expires_at TEXT,
                    progress REAL NOT NULL DEFAULT 0,
                    last_error TEXT,
                    payload TEXT NOT NULL DEFAULT '{}',
                    parent_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    started_at TEXT,
                    finished_at TEXT
                );
                -- The claim: WHERE state = 'queued' AND run_after <= now ORDER BY priority DESC, run_after, id.
                -- With state fixed, this index yields rows already in claim order; the first whose
                -- run_after has passed wins, with no sort.
                CREATE INDEX jobs_claim ON jobs(state, priority DESC, run_after, id);
                -- Expired leases: WHERE state = 'running' AND lease_expires_at < now.
                CREATE INDEX jobs_leases ON jobs(state, lease_expires_at);
                CREATE INDEX jobs_by_video ON jobs(video_id, state);
                CREATE INDEX jobs_by_parent ON jobs(parent_id, state);
                """)
        }
        migrator.registerMigration("v2: visibility, file names, API keys") { db in
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'
                    CHECK (visibility IN ('public', 'private'));
                ALTER TABLE videos ADD COLUMN filename TEXT;

                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    scope TEXT NOT NULL CHECK (scope IN ('upload', 'admin')),
                    secret_hash TEXT NOT NULL UNIQUE,
                    created_at TEXT NOT NULL,
                    revoked_at TEXT
                );
                """)
        }
        migrator.registerMigration("v3: video owners") { db in
            // The key that uploaded each video: a private video is seen only by it and by admin keys.
            // Videos from before (and from `reel ingest`) have none: private ones are then admin-only.
            // Keys are revoked, not deleted; should a row go anyway, its videos fall back to admin-only.
            try db.execute(sql: """
                ALTER TABLE videos ADD COLUMN owner_key_id TEXT REFERENCES api_keys(id) ON DELETE SET NULL;
                CREATE INDEX videos_by_owner ON videos(owner_key_id, created_at);
                """)
        }
        migrator.registerMigration("v4: uploads in progress") { db in
            // tus and plain uploads, shared by every process (and host) of the catalog: one write lock
            // and one durable offset per upload. Formerly `uploads/<id>/info.json` on the storage root.
            try db.execute(sql: """
                CREATE TABLE uploads (
                    id TEXT PRIMARY KEY NOT NULL,
                    length INTEGER NOT NULL CHECK (length >= 0),
                    deferred_length INTEGER NOT NULL DEFAULT 0,
                    "offset" INTEGER NOT NULL DEFAULT 0 CHECK ("offset" >= 0),
                    filename TEXT,
                    title TEXT,
                    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
                    owner_key_id TEXT REFERENCES api_keys(id) ON DELETE SET NULL,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL,
                    video_id TEXT,
                    lock_holder TEXT,
                    lock_expires_at TEXT
                );
                CREATE INDEX uploads_open ON uploads(video_id, expires_at);
                """)
        }
        migrator.registerMigration("v5: webhooks") { db in
            // Endpoints, and one delivery per event per endpoint: written in the transaction of the change
            // it reports, sent by whichever host's sender leases it, oldest first per (endpoint, video).
            try db.execute(sql: """
                CREATE TABLE webhooks (
                    id TEXT PRIMARY KEY NOT NULL,
                    key_id TEXT NOT NULL,
                    all_videos INTEGER NOT NULL DEFAULT 0,
                    url TEXT NOT NULL,
                    events TEXT NOT NULL,
                    secret TEXT NOT NULL,
                    created_at TEXT NOT NULL
                );
                CREATE INDEX webhooks_by_key ON webhooks(key_id);
                CREATE TABLE webhook_deliveries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
                    video_id TEXT NOT NULL,
                    event TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at TEXT NOT NULL,
                    lease_owner TEXT,
                    lease_expires_at TEXT,
                    last_status INTEGER,
                    last_error TEXT,
                    created_at TEXT NOT NULL,
                    delivered_at TEXT
                );
                CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
                CREATE INDEX webhook_deliveries_order ON webhook_deliveries(webhook_id, video_id, id);
                """)
        }
        return migrator
    }
}
