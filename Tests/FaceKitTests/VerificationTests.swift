import FaceKit
import Foundation
import XCTest

/// Decisions on deepface's labelled pairs (master.csv) with real models.
final class VerificationTests: XCTestCase {
    let engine = Fixtures.engine

    func pairs() throws -> [LabelledPair] {
        try LabelledPair.read(csv: Fixtures.dataset.appendingPathComponent("master.csv"))
    }

    /// Every labelled pair of img1.jpg, the dataset's first identity (7 same, 17 different).
    func testKnownPairsWithSFaceAndYuNet() throws {
        let sample = try pairs().filter { $0.first == "img1.jpg" || $0.second == "img1.jpg" }
        XCTAssertEqual(sample.count, 24)
        for pair in sample {
            let r = try engine.verify(try Fixtures.image(pair.first), try Fixtures.image(pair.second), model: "SFace",
                                      options: .init(detection: .init(detector: .yunet)))
            XCTAssertEqual(r.verified, pair.same, "\(pair.first) ~ \(pair.second): distance \(r.distance)")
            XCTAssertEqual(r.threshold, 0.593)
            XCTAssertEqual(r.model, "SFace")
            XCTAssertEqual(r.detectorBackend, "yunet")
            XCTAssertEqual(r.similarityMetric, "cosine")
            XCTAssertEqual(r.similarity, 1 - r.distance, accuracy: 1e-6)
            XCTAssertTrue(r.verified ? r.confidence >= 51 : r.confidence <= 49)
        }
    }

    func testKnownPairsWithDlibAndTheDlibDetector() throws {
        let all = try pairs()
        let sample = Array(all.filter(\.same).prefix(2)) + Array(all.filter { !$0.same }.prefix(2))
        for pair in sample {
            let r = try engine.verify(try Fixtures.image(pair.first), try Fixtures.image(pair.second), model: "Dlib",
                                      options: .init(detection: .init(detector: .dlib)))
            XCTAssertEqual(r.verified, pair.same, "\(pair.first) ~ \(pair.second): distance \(r.distance)")
            XCTAssertEqual(r.threshold, 0.07)
        }
    }

    func testOneBaseAgainstManyUnderTwoModels() throws {
        let others = ["img2.jpg", "img4.jpg", "img3.jpg"].map { try! Fixtures.image($0) }
        let results = try engine.verify(base: try Fixtures.image("img1.jpg"), against: others, models: ["SFace", "Dlib"],
                                        options: .init(detection: .init(detector: .yunet)))
        XCTAssertEqual(results.count, 3)
        XCTAssertTrue(results.allSatisfy { $0.count == 2 })
        let sface = try results.map { try $0[0].get() }
        XCTAssertEqual(sface.map(\.verified), [true, true, false])  // master.csv: img1~img2 Yes, img1~img4 Yes, img3~img1 No
        XCTAssertEqual(try results[0][1].get().model, "Dlib")
    }

    func testAFailingImageDoesNotSinkTheOthers() throws {
        let results = try engine.verify(base: try Fixtures.image("img1.jpg"),
                                        against: [try Fixtures.image("img2.jpg"), .path("/no/such.jpg")],
                                        models: ["SFace"], options: .init(detection: .init(detector: .yunet)))
        XCTAssertNoThrow(try results[0][0].get())
        XCTAssertThrowsError(try results[1][0].get()) { error in
            XCTAssertEqual(error as? FaceKitError, .imageNotFound(path: "/no/such.jpg"))
        }
    }

    func testMetricsAndCustomThreshold() throws {
        for metric in DistanceMetric.allCases {
            let r = try engine.verify(try Fixtures.image("img1.jpg"), try Fixtures.image("img2.jpg"), model: "SFace",
                                      options: .init(metric: metric, detection: .init(detector: .yunet)))
            XCTAssertEqual(r.threshold, try Thresholds.threshold(model: "SFace", metric: metric))
            XCTAssertEqual(r.similarityMetric, metric.rawValue)
        }
        let strict = try engine.verify(try Fixtures.image("img1.jpg"), try Fixtures.image("img2.jpg"), model: "SFace",
                                       options: .init(threshold: 0.01, detection: .init(detector: .yunet)))
        XCTAssertFalse(strict.verified)
        XCTAssertEqual(strict.threshold, 0.01)
    }

    /// deepface 0.0.103 scores 99.33% with SFace + yunet on these 300 pairs;
    /// the 5-point crop separates every pair.
    func testEvaluationOnMasterCSV() throws {
        let reports = try engine.evaluate(pairs: try pairs(), imagesDirectory: Fixtures.dataset, models: ["SFace"],
                                          options: .init(detection: .init(detector: .yunet)))
        XCTAssertEqual(reports[0].pairs, 300)
        XCTAssertGreaterThanOrEqual(reports[0].accuracy, 99.33)
        XCTAssertEqual(reports[0].errors, 0)
        let landmarks = try engine.evaluate(pairs: try pairs(), imagesDirectory: Fixtures.dataset, models: ["SFace"],
                                            options: .init(detection: .init(detector: .yunet, alignment: .landmarks)))
        XCTAssertEqual(landmarks[0].accuracy, 100)
    }
}
