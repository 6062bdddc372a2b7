@testable import FaceKit
import Foundation
import XCTest

/// The native Keras .h5 path: fer's real emotion model on real faces, and
/// the refusals for files that are damaged or belong to another model.
final class KerasTests: XCTestCase {
    static let emotions = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

    private func ferPath() throws -> String {
        try ModelStore().require(ModelRegistry.ferEmotion, for: "fer emotion")
    }

    /// fer's input: the face, grey, 64x64, scaled to [-1, 1].
    private func ferInput(_ image: String) throws -> [Float] {
        let faces = try Fixtures.engine.extractFaces(try Fixtures.image(image), options: DetectionOptions(detector: .yunet))
        let face = try XCTUnwrap(faces.max { $0.facialArea.w * $0.facialArea.h < $1.facialArea.w * $1.facialArea.h })
        let bgr = try face.face.fitted(width: 64, height: 64)
        return (0..<64 * 64).map { p in
            let grey = 0.114 * bgr[3 * p] + 0.587 * bgr[3 * p + 1] + 0.299 * bgr[3 * p + 2]
            return (grey - 0.5) * 2
        }
    }

    func testFerJudgesOpenSmilesHappyAndStraightFacesNot() throws {
        let network = try KerasNetwork(architecture: .ferMiniXception, file: try ferPath())
        XCTAssertEqual(network.model.outputShapes, [[7]])
        // img1 and img43: open smiles. img30 and img32: the same man, straight-faced.
        let images = ["img1.jpg", "img43.jpg", "img30.jpg", "img32.jpg"]
        let batch = try images.flatMap { try ferInput($0) }
        let probabilities = try network.predict(batch, count: images.count)[0]
        for (i, image) in images.enumerated() {
            let p = Array(probabilities[7 * i..<7 * (i + 1)])
            XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-4, "\(image): probabilities must sum to 1")
            XCTAssertTrue(p.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(image): \(p)")
            let dominant = Self.emotions[p.indices.max { p[$0] < p[$1] }!]
            if i < 2 {
                XCTAssertEqual(dominant, "happy", "\(image): \(zip(Self.emotions, p).map { "\($0) \($1)" })")
            } else {
                XCTAssertNotEqual(dominant, "happy", "\(image): \(zip(Self.emotions, p).map { "\($0) \($1)" })")
            }
        }
    }

    /// A second load of the same file is the first network again; a file
    /// that changed on disk is read again (here: refused, being truncated).
    func testSecondLoadReusesTheFirstUntilTheFileChanges() throws {
        let cache = KerasModelCache()
        let url = try copyOfFer("cached.hdf5")
        let first = try cache.network(.ferMiniXception, file: url.path)
        let second = try cache.network(.ferMiniXception, file: url.path)
        XCTAssertTrue(first === second)
        let input = try ferInput("img1.jpg")
        XCTAssertEqual(try first.predict(input, count: 1)[0], try second.predict(input, count: 1)[0])
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        assertInvalid(try cache.network(.ferMiniXception, file: url.path), mentions: [url.path])
    }

    /// Two workers give the same numbers as one, called from several threads.
    func testConcurrentCallsOnTwoWorkers() throws {
        let network = try KerasNetwork(architecture: .ferMiniXception, file: try ferPath(), workers: 2)
        let input = try ferInput("img43.jpg")
        let expected = try network.predict(input, count: 1)[0]
        let results = Locked<[[Float]]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            if let out = try? network.predict(input, count: 1)[0] { results.withLock { $0.append(out) } }
        }
        XCTAssertEqual(results.withLock { $0.count }, 8)
        for out in results.withLock({ $0 }) { XCTAssertEqual(out, expected) }
        // A batch split over both workers keeps the samples in order.
        let others = try ["img1.jpg", "img30.jpg"].map { try ferInput($0) }
        let batch = try network.predict(others[0] + input + others[1], count: 3)[0]
        XCTAssertEqual(Array(batch[7..<14]), expected)
        XCTAssertEqual(Array(batch[0..<7]), try network.predict(others[0], count: 1)[0])
        XCTAssertEqual(Array(batch[14..<21]), try network.predict(others[1], count: 1)[0])
    }

    func testBatchOfSeveralEqualsOneByOne() throws {
        let network = try KerasNetwork(architecture: .ferMiniXception, file: try ferPath())
        let a = try ferInput("img1.jpg"), b = try ferInput("img30.jpg")
        let both = try network.predict(a + b, count: 2)[0]
        XCTAssertEqual(Array(both[0..<7]), try network.predict(a, count: 1)[0])
        XCTAssertEqual(Array(both[7..<14]), try network.predict(b, count: 1)[0])
        XCTAssertThrowsError(try network.predict(a + [0], count: 1))
    }

    /// The .h5 through a saved plan: the first load writes it, later ones
    /// (two workers here) map it without reading the file, with the same
    /// outputs to the bit; a damaged plan is rebuilt from the file.
    func testASavedPlanGivesTheSameNetworkAndADamagedOneIsRebuilt() throws {
        let home = Fixtures.temporaryDirectory
        let plans = PlanCache(store: ModelStore(home: home))
        let file = try copyOfFer("planned.hdf5")
        let built = try KerasNetwork(architecture: .ferMiniXception, file: file.path, workers: 1, plans: plans)
        let plan = try XCTUnwrap(plans.path(source: file.path, inputShape: [1, 64, 64, 1], tag: "fer"))
        let written = try XCTUnwrap(try? FileManager.default.contentsOfDirectory(atPath: plans.directory.path))
        XCTAssertEqual(written.count, 1, "\(written)")
        let planFile = plans.directory.appendingPathComponent(written[0])
        let mapped = try KerasNetwork(architecture: .ferMiniXception, file: file.path, workers: 2, plans: plans)
        XCTAssertEqual(mapped.model.outputShapes, [[7]])
        let inputs = try ["img1.jpg", "img30.jpg", "img43.jpg"].flatMap { try ferInput($0) }
        let expected = try built.predict(inputs, count: 3)[0]
        XCTAssertEqual(try mapped.predict(inputs, count: 3)[0], expected)
        XCTAssertNotEqual(plan, "")
        // Cut short: refused on opening, rebuilt from the file, written again whole.
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: planFile.path)[.size] as? NSNumber).intValue
        let handle = try FileHandle(forWritingTo: planFile)
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
        let rebuilt = try KerasNetwork(architecture: .ferMiniXception, file: file.path, workers: 1, plans: plans)
        XCTAssertEqual(try rebuilt.predict(inputs, count: 3)[0], expected)
        let again = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: planFile.path)[.size] as? NSNumber).intValue
        XCTAssertEqual(again, size)
    }

    private func copyOfFer(_ name: String) throws -> URL {
        let url = Fixtures.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: try ferPath()), to: url)
        return url
    }

    private func assertInvalid(_ body: @autoclosure () throws -> Any, mentions parts: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard case FaceKitError.modelFileInvalid = error else {
                return XCTFail("expected modelFileInvalid, got \(error)", file: file, line: line)
            }
            let text = "\(error)"
            for part in parts {
                XCTAssertTrue(text.contains(part), "'\(part)' missing from: \(text)", file: file, line: line)
            }
            XCTAssertEqual(FaceKitError.Category.environment, (error as? FaceKitError)?.category, file: file, line: line)
        }
    }

    func testTruncatedFileIsRefusedNamingTheFile() throws {
        let url = try copyOfFer("truncated.hdf5")
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        assertInvalid(try KerasModel.load(.ferMiniXception, file: url.path), mentions: [url.path])
    }

    func testNonHDF5FileIsRefused() throws {
        let url = Fixtures.temporaryDirectory.appendingPathComponent("not-a-model.h5")
        try Data("this is not HDF5".utf8).write(to: url)
        assertInvalid(try KerasModel.load(.ferMiniXception, file: url.path), mentions: [url.path, "not an HDF5 file"])
    }

    /// A weight list that names a dataset the file does not hold (one byte
    /// changed in the layer's weight_names attribute).
    func testCorruptWeightListNamesTheLayer() throws {
        let url = try copyOfFer("corrupt.hdf5")
        var data = try Data(contentsOf: url)
        let needle = Data("conv2d_3_1/kernel:0".utf8)
        let range = try XCTUnwrap(data.range(of: needle), "fixture layout changed")
        data[range.upperBound - 1] = UInt8(ascii: "9")
        try data.write(to: url)
        assertInvalid(try KerasModel.load(.ferMiniXception, file: url.path), mentions: ["conv2d_3", "kernel:9"])
    }

    /// fer's file against a description whose first convolution is wider:
    /// refused, naming the layer and both shapes.
    func testShapeMismatchIsRefusedNamingTheLayer() throws {
        let wrong = KerasArchitecture(name: "wrong", inputShape: [64, 64, 1], matching: .byName) { g, input in
            [try g.conv2D(input, filters: 16, kernel: (3, 3), useBias: false, name: "conv2d_1")]
        }
        assertInvalid(try KerasModel.load(wrong, file: try ferPath()), mentions: ["conv2d_1", "(3,3,1,8)", "(3,3,1,16)"])
    }

    /// A description that uses only part of the file is another model.
    func testUnusedWeightsAreRefused() throws {
        let partial = KerasArchitecture(name: "partial", inputShape: [64, 64, 1], matching: .byName) { g, input in
            [try g.conv2D(input, filters: 8, kernel: (3, 3), useBias: false, name: "conv2d_1")]
        }
        assertInvalid(try KerasModel.load(partial, file: try ferPath()), mentions: ["not part of the architecture"])
    }

    /// deepface's files are matched by position, as Keras' load_weights does:
    /// fer's file has 36 weighted layers, deepface's emotion CNN 7.
    func testOtherModelsFileIsRefused() throws {
        assertInvalid(try KerasModel.load(.deepfaceEmotion, file: try ferPath()), mentions: ["layers with weights"])
    }

    func testMissingFileIsRefused() {
        assertInvalid(try KerasModel.load(.ferMiniXception, file: "/no/such/model.h5"), mentions: ["/no/such/model.h5"])
    }
}
