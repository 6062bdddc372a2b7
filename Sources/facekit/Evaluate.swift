import ArgumentParser
import FaceKit
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score models and detectors on labelled pairs (deepface's master.csv format).",
        discussion: "Prints accuracy, TP/TN/FP/FN and the best threshold for each model and detector, with timings.")

    @Option(help: "CSV with file_x, file_y, Decision (Yes/No).")
    var pairs: String

    @Option(help: "Folder the CSV's file names are relative to (default: the CSV's folder).")
    var images: String?

    @Option(name: [.short, .long], help: "Model(s), comma separated.")
    var model: String = "SFace"

    @Option(name: .long, help: "Detector(s), comma separated.")
    var detectors: String = "yunet"

    @Option(help: "Face crop(s), comma separated: deepface, landmarks (5-point; only for detectors with 5 landmarks).")
    var alignments: String = "deepface,landmarks"

    @Option(help: "Distance metric.")
    var metric: String = "cosine"

    @Flag(name: .customLong("no-enforce-detection"),
          help: "Use the whole image when no face is found, instead of counting the pair as failed.")
    var noEnforceDetection = false

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "With --json, include every pair's distance and decision.")
    var perPair = false

    func run() throws {
        try Failure.run {
            let csv = URL(fileURLWithPath: pairs)
            let labelled = try LabelledPair.read(csv: csv)
            let dir = images.map { URL(fileURLWithPath: $0) } ?? csv.deletingLastPathComponent()
            let models = model.split(separator: ",").map(String.init)
            // A batch job: images side by side on every core (the dlib and
            // Haar detectors are single-threaded), unless FACEKIT_WORKERS says otherwise.
            let engine = FaceEngine(workers: ProcessInfo.processInfo.environment["FACEKIT_WORKERS"].flatMap(Int.init)
                                        ?? ProcessInfo.processInfo.activeProcessorCount)
            var reports: [EvaluationReport] = []
            for detectorName in detectors.split(separator: ",").map(String.init) {
                let detector = try DetectorBackend.named(detectorName)
                for alignmentName in alignments.split(separator: ",").map(String.init) {
                    let alignment = try AlignmentMode.named(alignmentName)
                    // The 5-point crop needs five landmarks; other detectors would
                    // silently fall back to deepface's crop and repeat its row.
                    if alignment == .landmarks && !detector.givesFiveLandmarks { continue }
                    let detection = DetectionOptions(detector: detector, enforceDetection: !noEnforceDetection, alignment: alignment)
                    let options = FaceEngine.VerifyOptions(metric: try DistanceMetric.named(metric), detection: detection)
                    reports += try engine.evaluate(pairs: labelled, imagesDirectory: dir, models: models, options: options,
                                                   keepPairs: perPair)
                }
            }
            if json {
                try Output.json(reports)
                return
            }
            print("\(labelled.count) pairs (\(labelled.filter(\.same).count) same) from \(pairs), metric \(metric)")
            print(Output.table(
                ["model", "detector", "alignment", "accuracy", "TP", "TN", "FP", "FN", "errors", "threshold", "best threshold", "best acc.", "ms/image"],
                reports.map { r in
                    [r.model, r.detector, r.alignment, Output.fixed(r.accuracy, 2) + "%", "\(r.truePositives)", "\(r.trueNegatives)",
                     "\(r.falsePositives)", "\(r.falseNegatives)", "\(r.errors)", "\(r.threshold)", Output.fixed(r.bestThreshold),
                     Output.fixed(r.bestAccuracy, 2) + "%", Output.fixed(r.millisecondsPerImage, 1)]
                }))
        }
    }
}
