import ArgumentParser
import FaceKit

@main
struct FaceKitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "facekit",
        abstract: "Face detection, alignment, embeddings, verification and attribute analysis, compatible with deepface.",
        discussion: """
        Exit codes: 0 success; 64 bad usage (unknown option, model, detector or metric); \
        65 unusable input (not an image, truncated, too large, no face); 66 file not found; \
        69 model files missing or invalid (run `facekit models pull`); 70 processing failure.
        """,
        version: FaceKitVersion.string,
        subcommands: [Verify.self, Represent.self, Extract.self, Analyze.self, Evaluate.self, Find.self, Register.self, Search.self,
                      Delete.self, Identities.self, Reindex.self, BenchStore.self, Models.self, Serve.self, Keras.self])

    static func main() async {
        ProcessMemory.releaseLargeBuffersPromptly()
        ProcessMemory.stopIdleBLASThreads()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
