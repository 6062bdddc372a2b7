import FaceKit
import Foundation
import GRDB

/// Every schema change of the SQLite face store, in order, in one registry.
/// A migration once released is never edited; a change is a new one.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: signatures, faces, indexed folder files") { db in
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
