import Foundation

/// Per-stage wall time of one image, printed when FACEKIT_PROFILE=1: where
/// the time goes, without a profiler.
final class StageClock: @unchecked Sendable {
    private let enabled: Bool
    private var last = DispatchTime.now().uptimeNanoseconds
    private var laps: [(String, Double)] = []

    init(enabled: Bool) { self.enabled = enabled }

    func lap(_ name: String) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        laps.append((name, Double(now - last) / 1e6))
        last = now
    }

    func report(_ what: String) {
        guard enabled else { return }
        let parts = laps.map { "\($0.0) \(String(format: "%.1f", $0.1)) ms" }.joined(separator: ", ")
        FileHandle.standardError.write(Data("profile \(what): \(parts)\n".utf8))
    }
}
