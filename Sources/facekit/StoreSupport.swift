import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

/// Options of the commands that work on the face store.
struct StoreFlags: ParsableArguments {
    @Option(help: "Face store: a SQLite file (default $FACEKIT_HOME/faces.sqlite), or postgres://USER@HOST:PORT/DB with pgvector.")
    var store: String?

    @Option(help: "PostgreSQL store: where ANN searches run: pgvector (HNSW in the server) or local (a 4-bit scan index mirrored in this process).")
    var pgAnn: String = PostgresVectorStore.ANNEngine.pgvector.rawValue

    func open() throws -> any VectorStore {
        guard let engine = PostgresVectorStore.ANNEngine(rawValue: pgAnn) else {
            throw FaceKitError.invalidInput("--pg-ann is pgvector or local")
        }
        guard let store else { return try SQLiteVectorStore(path: SQLiteVectorStore.defaultPath()) }
        if PostgresVectorStore.isURL(store) { return try PostgresVectorStore(url: store, ann: engine) }
        if store.contains("://") {
            throw FaceKitError.invalidInput("store \(store): give a SQLite file path or a postgres:// URL")
        }
        return try SQLiteVectorStore(path: store)
    }
}

/// Indexing progress on stderr: a bar with rate and ETA redrawn in place on
/// a terminal, one plain line per batch otherwise (logs, pipes, CI).
final class ProgressPrinter {
    let label: String
    let terminal = isatty(STDERR_FILENO) == 1
    private var drewBar = false

    init(label: String) { self.label = label }

    func update(done: Int, total: Int, elapsed: TimeInterval, failures: Int) {
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let skipped = failures > 0 ? ", \(failures) skipped" : ""
        if terminal {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let percent = total > 0 ? 100 * done / total : 100
            write("\r\(label) [\(bar)] \(done)/\(total) \(percent)% \(Output.fixed(rate, 1)) images/s ETA \(Self.clock(eta))\(skipped)\u{1B}[K")
            drewBar = true
            if done == total { finish() }
        } else if done > 0 {
            write("\(label): \(done)/\(total) images, \(Output.fixed(rate, 1)) images/s, ETA \(Self.clock(eta))\(skipped)\n")
        }
    }

    func finish() {
        if drewBar { write("\n") }
        drewBar = false
    }

    func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
