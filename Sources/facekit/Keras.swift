import ArgumentParser
import FaceKit
import Foundation

/// Runs a Keras .h5 model on raw, already preprocessed inputs: the entry the
/// Keras conformance script (scripts/conformance-keras.sh) drives, and a way
/// to check a weight file against an architecture.
struct Keras: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a Keras .h5 model natively on raw NHWC float32 inputs (conformance and file checks).",
        discussion: "Architectures: \(KerasArchitecture.all.keys.sorted().joined(separator: ", ")).")

    @Option(help: "Architecture name; default: the one deepface's (or fer's) file of that name holds.")
    var architecture: String?

    @Option(help: "Keras weight file (.h5 / .hdf5).")
    var weights: String

    @Option(help: "Raw little-endian float32 NHWC samples at the architecture's input size; omit to only load and check the file.")
    var input: String?

    @Option(help: "Where to write the outputs: float32, sample-major, every output of a sample in turn.")
    var output: String?

    @Option(help: "Timed passes over the inputs after a warm-up pass.")
    var repeats: Int = 3

    func run() throws {
        try Failure.run {
            let fileName = URL(fileURLWithPath: weights).lastPathComponent
            guard let arch = try architecture.map(KerasArchitecture.named) ?? KerasArchitecture.deepfaceFiles[fileName] else {
                throw FaceKitError.invalidInput("\(fileName) is not one of deepface's file names; name its --architecture (\(KerasArchitecture.all.keys.sorted().joined(separator: ", ")))")
            }
            let cache = KerasModelCache()
            let clock = ContinuousClock()
            var network: KerasNetwork?
            let firstLoad = try clock.measure { network = try cache.network(arch, file: weights) }
            // A second load of the same file in this process (the cache).
            let secondLoad = try clock.measure { _ = try cache.network(arch, file: weights) }
            guard let net = network else { return }
            // What a further worker's network costs: built from the weights
            // in memory, without reading the file.
            let model = try KerasModel.load(arch, file: weights)
            let extraNetwork = try clock.measure { _ = try KerasNetwork(model: model) }
            var report: [String: Double] = [
                "first_load_ms": firstLoad.milliseconds,
                "second_load_ms": secondLoad.milliseconds,
                "network_from_memory_ms": extraNetwork.milliseconds,
            ]
            if let input {
                let data = try Data(contentsOf: URL(fileURLWithPath: input))
                let per = net.model.inputFloats
                guard data.count % (4 * per) == 0, data.count > 0 else {
                    throw FaceKitError.invalidInput("\(input): \(data.count) bytes is not a whole number of \(net.model.inputShape) float32 samples")
                }
                let count = data.count / (4 * per)
                let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                var outputs = try net.predict(floats, count: count)
                var best = Duration.seconds(1_000_000)
                for _ in 0..<max(1, repeats) {
                    best = min(best, try clock.measure { outputs = try net.predict(floats, count: count) })
                }
                report["ms_per_sample"] = best.milliseconds / Double(count)
                report["samples"] = Double(count)
                if let output {
                    let sizes = net.model.outputShapes.map { $0.reduce(1, *) }
                    var flat: [Float] = []
                    for n in 0..<count {
                        for (o, size) in sizes.enumerated() { flat += outputs[o][n * size..<(n + 1) * size] }
                    }
                    try flat.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: output))
                }
            }
            try Output.json(report)
        }
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
