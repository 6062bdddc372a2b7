import Foundation

/// A labelled pair, as in deepface's master.csv (file_x, file_y, Decision).
public struct LabelledPair: Sendable, Hashable {
    public let first: String
    public let second: String
    public let same: Bool

    public init(first: String, second: String, same: Bool) {
        self.first = first
        self.second = second
        self.same = same
    }

    /// Reads a CSV with a header naming file_x, file_y and Decision (Yes/No).
    public static func read(csv url: URL) throws -> [LabelledPair] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw FaceKitError.io("cannot read \(url.path): \(error.localizedDescription)")
        }
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw FaceKitError.invalidInput("\(url.path) is empty") }
        let header = lines.removeFirst().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let ix = header.firstIndex(of: "file_x"), let iy = header.firstIndex(of: "file_y"),
              let id = header.firstIndex(of: "decision") else {
            throw FaceKitError.invalidInput("\(url.path): the header must name file_x, file_y and Decision")
        }
        return try lines.enumerated().map { n, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > max(ix, iy, id) else {
                throw FaceKitError.invalidInput("\(url.path) line \(n + 2): expected \(header.count) columns")
            }
            let decision = cells[id].lowercased()
            guard decision == "yes" || decision == "no" else {
                throw FaceKitError.invalidInput("\(url.path) line \(n + 2): Decision must be Yes or No, not '\(cells[id])'")
            }
            return LabelledPair(first: cells[ix], second: cells[iy], same: decision == "yes")
        }
    }
}

/// How one model and detector did on a set of labelled pairs.
public struct EvaluationReport: Sendable, Codable {
    public let model: String
    public let detector: String
    public let alignment: String
    public let metric: String
    public let threshold: Double
    public let pairs: Int
    public let accuracy: Double
    public let truePositives: Int
    public let trueNegatives: Int
    public let falsePositives: Int
    public let falseNegatives: Int
    /// Pairs whose images failed (no face, unreadable); counted as "not the same".
    public let errors: Int
    /// The threshold that would have scored best on these pairs, and that score.
    public let bestThreshold: Double
    public let bestAccuracy: Double
    public let images: Int
    public let seconds: Double
    public let millisecondsPerImage: Double
    public let results: [PairResult]?

    public struct PairResult: Sendable, Codable {
        public let fileX: String
        public let fileY: String
        public let same: Bool
        public let distance: Double?
        public let verified: Bool
        public let error: String?

        enum CodingKeys: String, CodingKey {
            case fileX = "file_x", fileY = "file_y", same, distance, verified, error
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, detector, alignment, metric, threshold, pairs, accuracy
        case truePositives = "tp", trueNegatives = "tn", falsePositives = "fp", falseNegatives = "fn"
        case errors, bestThreshold = "best_threshold", bestAccuracy = "best_accuracy"
        case images, seconds, millisecondsPerImage = "ms_per_image"
        case results = "pairs_detail"
    }
}

extension FaceEngine {
    /// Scores labelled pairs for each model under one detector: each image
    /// is detected and embedded once (for all models), in parallel; each pair
    /// is then decided as deepface's verify decides it.
    public func evaluate(pairs: [LabelledPair], imagesDirectory: URL, models: [String], options: VerifyOptions,
                         keepPairs: Bool = false) throws -> [EvaluationReport] {
        let infos = try models.map { try RecognitionModels.named($0) }
        try prepare(detector: options.detection.detector, models: infos.map(\.name))
        let names = Array(Set(pairs.flatMap { [$0.first, $0.second] })).sorted()
        let start = Date()
        let embedded = embedAll(names.map { .path(imagesDirectory.appendingPathComponent($0).path) }, models: infos,
                                options: options.detection)
        let seconds = Date().timeIntervalSince(start)
        let byName = Dictionary(uniqueKeysWithValues: zip(names, embedded))

        return try infos.map { info in
            let threshold = try options.threshold ?? Thresholds.threshold(model: info.name, metric: options.metric)
            var results: [EvaluationReport.PairResult] = []
            for pair in pairs {
                do {
                    let a = try byName[pair.first]!.get(), b = try byName[pair.second]!.get()
                    let r = try Self.compare(a, b, model: info.name, metric: options.metric, threshold: threshold,
                                             detector: options.detection.detector, time: 0)
                    results.append(.init(fileX: pair.first, fileY: pair.second, same: pair.same, distance: r.distance,
                                         verified: r.verified, error: nil))
                } catch {
                    results.append(.init(fileX: pair.first, fileY: pair.second, same: pair.same, distance: nil,
                                         verified: false, error: String(describing: error)))
                }
            }
            let tp = results.filter { $0.same && $0.verified }.count
            let tn = results.filter { !$0.same && !$0.verified }.count
            let fp = results.filter { !$0.same && $0.verified }.count
            let fn = results.filter { $0.same && !$0.verified }.count
            let best = Self.bestThreshold(results)
            return EvaluationReport(
                model: info.name, detector: options.detection.detector.rawValue, alignment: options.detection.alignment.rawValue,
                metric: options.metric.rawValue, threshold: threshold, pairs: results.count,
                accuracy: 100 * Double(tp + tn) / Double(max(1, results.count)),
                truePositives: tp, trueNegatives: tn, falsePositives: fp, falseNegatives: fn,
                errors: results.filter { $0.error != nil }.count,
                bestThreshold: best.threshold, bestAccuracy: best.accuracy,
                images: names.count, seconds: seconds, millisecondsPerImage: 1000 * seconds / Double(max(1, names.count)),
                results: keepPairs ? results : nil)
        }
    }

    /// The cut between sorted distances that classifies the most pairs
    /// correctly (midpoints between neighbours; failed pairs always count as
    /// "different").
    static func bestThreshold(_ results: [EvaluationReport.PairResult]) -> (threshold: Double, accuracy: Double) {
        let scored = results.compactMap { r in r.distance.map { ($0, r.same) } }.sorted { $0.0 < $1.0 }
        let failedDifferent = results.filter { $0.distance == nil && !$0.same }.count
        guard !scored.isEmpty else { return (0, 0) }
        var bestCorrect = -1, bestCut = 0.0
        // Cut below everything: all scored pairs are "different".
        var correct = scored.filter { !$0.1 }.count
        var candidates: [(Double, Int)] = [(scored[0].0 - 1e-6, correct)]
        for k in 0..<scored.count {
            correct += scored[k].1 ? 1 : -1
            let next = k + 1 < scored.count ? scored[k + 1].0 : scored[k].0 + 1e-6
            candidates.append(((scored[k].0 + next) / 2, correct))
        }
        for (cut, c) in candidates where c > bestCorrect {
            bestCorrect = c
            bestCut = cut
        }
        let accuracy = 100 * Double(bestCorrect + failedDifferent) / Double(results.count)
        return ((bestCut * 1e6).rounded() / 1e6, accuracy)
    }
}
