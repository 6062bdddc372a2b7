import FaceKit
import XCTest

/// Expected values are deepface 0.0.103's own outputs for the same inputs
/// (find_distance and find_confidence, run in its venv).
final class DistanceTests: XCTestCase {
    let a: [Float] = [0.1, -0.2, 0.3, 0.4]
    let b: [Float] = [0.2, 0.1, -0.1, 0.5]

    func testMetricsMatchDeepface() throws {
        XCTAssertEqual(try DistanceMetric.cosine.distance(a, b), 0.442548)
        XCTAssertEqual(try DistanceMetric.euclidean.distance(a, b), 0.519615)
        XCTAssertEqual(try DistanceMetric.euclideanL2.distance(a, b), 0.940795)
        XCTAssertEqual(try DistanceMetric.angular.distance(a, b), 0.311779)
    }

    func testIdenticalVectorsAreAtZero() throws {
        for metric in DistanceMetric.allCases {
            XCTAssertEqual(try metric.distance(a, a), 0, accuracy: 1e-6, "\(metric)")
        }
    }

    func testOppositeVectors() throws {
        let minusA = a.map { -$0 }
        XCTAssertEqual(try DistanceMetric.cosine.distance(a, minusA), 2)
        XCTAssertEqual(try DistanceMetric.angular.distance(a, minusA), 1)
        XCTAssertEqual(try DistanceMetric.euclideanL2.distance(a, minusA), 2)
    }

    func testSimilarityGoesWithDistance() throws {
        let d = try DistanceMetric.cosine.distance(a, b)
        XCTAssertEqual(DistanceMetric.cosine.similarity(distance: d), 1 - 0.442548, accuracy: 1e-9)
        // For unit vectors, 1 - l2^2/2 is the cosine similarity.
        let l2 = try DistanceMetric.euclideanL2.distance(a, b)
        XCTAssertEqual(DistanceMetric.euclideanL2.similarity(distance: l2), 1 - 0.442548, accuracy: 1e-5)
    }

    func testMismatchedSizesAreAnError() {
        XCTAssertThrowsError(try DistanceMetric.cosine.distance(a, [1, 2])) { error in
            guard case FaceKitError.invalidInput = error else { return XCTFail("\(error)") }
        }
    }

    func testMetricNames() throws {
        XCTAssertEqual(try DistanceMetric.named("euclidean_l2"), .euclideanL2)
        XCTAssertThrowsError(try DistanceMetric.named("manhattan")) { error in
            guard case FaceKitError.unknownMetric(let name, let known) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(name, "manhattan")
            XCTAssertEqual(known.count, 4)
        }
    }

    func testDeepfaceThresholds() throws {
        XCTAssertEqual(try Thresholds.threshold(model: "SFace", metric: .cosine), 0.593)
        XCTAssertEqual(try Thresholds.threshold(model: "SFace", metric: .euclideanL2), 1.055)
        XCTAssertEqual(try Thresholds.threshold(model: "Dlib", metric: .cosine), 0.07)
        XCTAssertEqual(try Thresholds.threshold(model: "Dlib", metric: .euclidean), 0.6)
        XCTAssertEqual(try Thresholds.threshold(model: "Facenet", metric: .angular), 0.33)
        XCTAssertThrowsError(try Thresholds.threshold(model: "NoSuchNet", metric: .cosine))
    }

    func testConfidenceCalibrationMatchesDeepface() {
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0.3, model: "SFace", metric: .cosine, verified: true), 83.48)
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0.7, model: "SFace", metric: .cosine, verified: false), 13.73)
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0.35, model: "Dlib", metric: .euclideanL2, verified: true), 61.44)
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0.2, model: "Dlib", metric: .cosine, verified: false), 0.13)
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0.2, model: "SFace", metric: .angular, verified: true), 90.02)
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 12.0, model: "SFace", metric: .euclidean, verified: false), 16.87)
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0, model: "SFace", metric: .cosine, verified: true), 100)
        // A model without calibration gets deepface's 51/49.
        XCTAssertEqual(ConfidenceCalibration.confidence(distance: 0.1, model: "Unknown", metric: .cosine, verified: true), 51)
    }
}
