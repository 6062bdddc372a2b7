import FaceKit
import Foundation
import GRDB

/// Every schema change of both face stores, in order, in one registry: the
/// SQLite store's (GRDB's migrator) and the PostgreSQL store's, step for step
/// under the same names. A migration once released is never edited; a change
/// is a new step on both sides.
enum StoreSchema {
    static let v1 = "v1: signatures, faces, indexed folder files"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration(v1) { db in
            try db.execute(sql: """
                CREATE TABLE signature (
                  id INTEGER PRIMARY KEY,
                  key TEXT NOT NULL UNIQUE,
                  model TEXT NOT NULL,
                  model_sha256 TEXT NOT NULL,
                  dimensions INTEGER NOT NULL,
                  detector TEXT NOT NULL,
                  align INTEGER NOT NULL,
                  alignment TEXT NOT NULL,
                  expand_percentage INTEGER NOT NULL,
                  normalization TEXT NOT NULL,
                  facekit_version TEXT NOT NULL,
                  -- bumped by the triggers below on every face added or removed,
                  -- so a reader knows when its loaded matrix is stale
                  generation INTEGER NOT NULL DEFAULT 0,
                  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
                );
                -- AUTOINCREMENT: a deleted face's id is never given to a later
                -- one, so `delete --id` cannot remove the wrong face.
                CREATE TABLE face (
                  id INTEGER PRIMARY KEY AUTOINCREMENT,
                  signature_id INTEGER NOT NULL REFERENCES signature(id),
                  identity TEXT NOT NULL,
                  embedding BLOB NOT NULL,
                  source_path TEXT,
                  source_sha256 TEXT,
                  x INTEGER NOT NULL,
                  y INTEGER NOT NULL,
                  w INTEGER NOT NULL,
                  h INTEGER NOT NULL,
                  face_confidence REAL NOT NULL,
                  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
                );
                CREATE INDEX face_by_signature ON face(signature_id, id);
                CREATE INDEX face_by_identity ON face(identity);
                CREATE INDEX face_by_source ON face(signature_id, source_path);
                CREATE TRIGGER face_added AFTER INSERT ON face BEGIN
                  UPDATE signature SET generation = generation + 1 WHERE id = NEW.signature_id;
                END;
                CREATE TRIGGER face_removed AFTER DELETE ON face BEGIN
                  UPDATE signature SET generation = generation + 1 WHERE id = OLD.signature_id;
                END;
                -- What a folder index (find) has seen of each image file, so the
                -- next run processes only what was added, changed or removed.
                -- Images without a face are remembered too, and not retried
                -- until they change.
                CREATE TABLE indexed_file (
                  signature_id INTEGER NOT NULL REFERENCES signature(id),
                  path TEXT NOT NULL,
                  size INTEGER NOT NULL,
                  mtime REAL NOT NULL,
                  sha256 TEXT NOT NULL,
                  status TEXT NOT NULL CHECK (status IN ('ok', 'no_face', 'unreadable')),
                  message TEXT,
                  faces INTEGER NOT NULL,
                  PRIMARY KEY (signature_id, path)
                );
                """)
        }
        return migrator
    }

    /// The PostgreSQL store's steps, in the schema `facekit`. Vectors are
    /// pgvector `vector` columns without a fixed size, since one table holds
    /// every pipeline; the HNSW indexes are partial, one per signature, over
    /// the column cast to its size (see PostgresVectorStore).
    static let postgres: [(identifier: String, sql: String)] = [
        (v1, """
            CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;
            CREATE TABLE signature (
              id BIGSERIAL PRIMARY KEY,
              key TEXT NOT NULL UNIQUE,
              model TEXT NOT NULL,
              model_sha256 TEXT NOT NULL,
              dimensions INTEGER NOT NULL,
              detector TEXT NOT NULL,
              align BOOLEAN NOT NULL,
              alignment TEXT NOT NULL,
              expand_percentage INTEGER NOT NULL,
              normalization TEXT NOT NULL,
              facekit_version TEXT NOT NULL,
              -- kept by the statement triggers below: a reader's cached matrix
              -- is current while generation is; while deletions has not moved,
              -- rows added since can be fetched alone, and face_count says
              -- whether that fetch saw them all
              generation BIGINT NOT NULL DEFAULT 0,
              deletions BIGINT NOT NULL DEFAULT 0,
              face_count BIGINT NOT NULL DEFAULT 0,
              created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            -- A sequence never hands an id out twice, so `delete --id` cannot
            -- remove a later face.
            CREATE TABLE face (
              id BIGSERIAL PRIMARY KEY,
              signature_id BIGINT NOT NULL REFERENCES signature(id),
              identity TEXT NOT NULL,
              embedding public.vector NOT NULL,
              source_path TEXT,
              source_sha256 TEXT,
              x INTEGER NOT NULL,
              y INTEGER NOT NULL,
              w INTEGER NOT NULL,
              h INTEGER NOT NULL,
              face_confidence DOUBLE PRECISION NOT NULL,
              created_at TIMESTAMPTZ NOT NULL DEFAULT now()
            );
            CREATE INDEX face_by_signature ON face(signature_id, id);
            CREATE INDEX face_by_identity ON face(identity);
            CREATE INDEX face_by_source ON face(signature_id, source_path);
            -- Statement-level, so a COPY of a million rows bumps each counter once.
            CREATE FUNCTION faces_added() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE signature s SET generation = s.generation + 1, face_count = s.face_count + n.c
              FROM (SELECT signature_id, count(*) AS c FROM added GROUP BY signature_id) n
              WHERE s.id = n.signature_id;
              RETURN NULL;
            END $$;
            CREATE FUNCTION faces_removed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE signature s SET generation = s.generation + 1, deletions = s.deletions + n.c,
                                     face_count = s.face_count - n.c
              FROM (SELECT signature_id, count(*) AS c FROM removed GROUP BY signature_id) n
              WHERE s.id = n.signature_id;
              RETURN NULL;
            END $$;
            CREATE TRIGGER face_added AFTER INSERT ON face REFERENCING NEW TABLE AS added
              FOR EACH STATEMENT EXECUTE FUNCTION faces_added();
            CREATE TRIGGER face_removed AFTER DELETE ON face REFERENCING OLD TABLE AS removed
              FOR EACH STATEMENT EXECUTE FUNCTION faces_removed();
            CREATE TABLE indexed_file (
              signature_id BIGINT NOT NULL REFERENCES signature(id),
              path TEXT NOT NULL,
              size BIGINT NOT NULL,
              mtime DOUBLE PRECISION NOT NULL,
              sha256 TEXT NOT NULL,
              status TEXT NOT NULL CHECK (status IN ('ok', 'no_face', 'unreadable')),
              message TEXT,
              faces INTEGER NOT NULL,
              PRIMARY KEY (signature_id, path)
            );
            """),
    ]

    /// Brings a PostgreSQL database up to date. The advisory lock makes two
    /// processes opening a new database at once take turns; the second finds
    /// every step applied.
    static func migrate(_ connection: PQConnection) throws {
        try connection.execute("BEGIN")
        do {
            try connection.execute("""
                SELECT pg_advisory_xact_lock(7283920174);
                CREATE SCHEMA IF NOT EXISTS facekit;
                SET LOCAL search_path TO facekit, public;
                CREATE TABLE IF NOT EXISTS migration (identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
                """)
            let applied = Set(try connection.query("SELECT identifier FROM migration").rows.compactMap { $0[0] })
            for step in postgres where !applied.contains(step.identifier) {
                try connection.execute(step.sql)
                try connection.query("INSERT INTO migration (identifier) VALUES ($1)", [step.identifier])
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw FaceKitError.store("schema migration of \(connection.location) failed: \(error)")
        }
    }

    /// Migrates, tolerating another process migrating the same file at the
    /// same moment: GRDB reads the applied list outside the migration's
    /// transaction, so the loser of that race fails on "table exists" after
    /// the winner committed, and finds nothing left to do on the retry.
    static func migrate(_ writer: any DatabaseWriter) throws {
        var attempt = 0
        while true {
            do {
                try migrator.migrate(writer)
                return
            } catch {
                attempt += 1
                if attempt >= 3 { throw FaceKitError.store("schema migration failed: \(error)") }
            }
        }
    }
}
