import FaceKit
import Foundation
import XCTest

/// deepface's analyze on real images from deepface's dataset, through the
/// real weights that reach this machine (gender_net, age_net, fer).
final class AnalysisTests: XCTestCase {
    static let analyzer = FaceAnalyzer(engine: Fixtures.engine)
    let detection = DetectionOptions(detector: .yunet)

    /// Who is in each single-person image of the dataset, by looking at them
    /// (img59 shows two people and is left out).
    static let women = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 22, 23, 26, 27, 28, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 53, 54, 55, 56]
    static let men = [13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 57, 58, 61, 62, 67]

    func analyze(_ name: String, _ actions: [AttributeAction] = AttributeAction.deepfaceDefault,
                 models: [AttributeAction: String] = [:], maxFaces: Int? = nil) throws -> ImageAnalysis {
        var detection = self.detection
        detection.maxFaces = maxFaces
        return try Self.analyzer.analyze(try Fixtures.image(name), options: .init(actions: actions, detection: detection, models: models))
    }

    func testOutputHasDeepfacesKeys() throws {
        let result = try analyze("img1.jpg")
        XCTAssertEqual(result.faces.count, 1)
        let data = try JSONEncoder().encode(result.faces)
        let faces = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let face = faces[0]
        var expected: Set<String> = ["region", "face_confidence", "age", "gender", "dominant_gender", "emotion", "dominant_emotion", "models"]
        // Race is answered only where deepface's race file is present; else
        // the face says why it is missing.
        if result.models[.race] != nil {
            expected.formUnion(["race", "dominant_race"])
        } else {
            expected.insert("unavailable")
            let unavailable = try XCTUnwrap(face["unavailable"] as? [String: String])
            XCTAssertTrue(unavailable["race"]?.contains("facekit models pull Race") == true, "\(unavailable)")
        }
        XCTAssertEqual(Set(face.keys), expected)
        let region = try XCTUnwrap(face["region"] as? [String: Any])
        XCTAssertTrue(Set(region.keys).isSuperset(of: ["x", "y", "w", "h", "left_eye", "right_eye"]))
        XCTAssertEqual(Set((face["gender"] as? [String: Double] ?? [:]).keys), ["Woman", "Man"])
        XCTAssertEqual(Set((face["emotion"] as? [String: Double] ?? [:]).keys),
                       ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
        XCTAssertNotNil(face["age"] as? Int)
        let models = try XCTUnwrap(face["models"] as? [String: String])
        XCTAssertEqual(Set(models.keys), Set(result.models.keys.map(\.rawValue)))
        if let race = face["race"] as? [String: Double] {
            XCTAssertEqual(Set(race.keys), ["asian", "indian", "black", "white", "middle eastern", "latino hispanic"])
        }
    }

    func testProbabilitiesSumToAHundredAndDominantIsTheArgmax() throws {
        for name in ["couple.jpg", "selfie-many-people.jpg", "img17.jpg"] {
            let result = try analyze(name)
            XCTAssertFalse(result.faces.isEmpty, name)
            for face in result.faces {
                for action in AttributeAction.allCases where action != .age && result.models[action] != nil {
                    let scores = try XCTUnwrap(face.scores(action), "\(name) \(action)")
                    XCTAssertEqual(Set(scores.keys), Set(action.labels))
                    XCTAssertEqual(scores.values.reduce(0, +), 100, accuracy: 1e-3, "\(name) \(action)")
                    XCTAssertTrue(scores.values.allSatisfy { $0 >= 0 && $0 <= 100 })
                    let best = scores.max { $0.value < $1.value }!.key
                    XCTAssertEqual(face.dominant(action), best, "\(name) \(action)")
                }
                let age = try XCTUnwrap(face.age, name)
                XCTAssertTrue((0...100).contains(age), "\(name): age \(age)")
            }
        }
    }

    func testOneResultPerFaceInGroupPhotos() throws {
        for (name, count) in [("couple.jpg", 2), ("selfie-many-people.jpg", 4)] {
            let result = try analyze(name)
            let extracted = try Fixtures.engine.extractFaces(try Fixtures.image(name), options: detection)
            XCTAssertEqual(result.faces.count, count, name)
            XCTAssertEqual(result.faces.map(\.region), extracted.map(\.facialArea), name)
            for face in result.faces {
                XCTAssertNotNil(face.dominantGender)
                XCTAssertNotNil(face.dominantEmotion)
                XCTAssertNotNil(face.age)
            }
        }
    }

    func testGenderNetIsRightOnAtLeastNinetyPercentOfTheLabelledFaces() throws {
        var right = 0, wrong: [String] = []
        for (label, numbers) in [("Woman", Self.women), ("Man", Self.men)] {
            for n in numbers {
                let result = try analyze("img\(n).jpg", [.gender], models: [.gender: "gender_net"], maxFaces: 1)
                XCTAssertEqual(result.models[.gender]?.name, "gender_net")
                let said = try XCTUnwrap(result.faces.first?.dominantGender, "img\(n).jpg")
                if said == label { right += 1 } else { wrong.append("img\(n).jpg: \(said)") }
            }
        }
        let total = Self.women.count + Self.men.count
        XCTAssertEqual(total, 60)
        XCTAssertGreaterThanOrEqual(Double(right) / Double(total), 0.9, "right on \(right)/\(total); wrong: \(wrong)")
    }

    func testAnOpenSmileIsHappy() throws {
        // Open, toothy smiles: Angelina Jolie (img1), Sundar Pichai (img25), Scarlett Johansson (img50).
        for name in ["img1.jpg", "img25.jpg", "img50.jpg"] {
            let result = try analyze(name, [.emotion], models: [.emotion: "fer"], maxFaces: 1)
            let face = try XCTUnwrap(result.faces.first)
            XCTAssertEqual(face.dominantEmotion, "happy", "\(name): \(face.emotion ?? [:])")
            XCTAssertGreaterThan(face.emotion?["happy"] ?? 0, 80, name)
            XCTAssertEqual(face.models["emotion"], "fer")
        }
    }

    func testAgeNetGivesAnExpectedAgeOverItsGroups() throws {
        let result = try analyze("couple.jpg", [.age], models: [.age: "age_net"])
        XCTAssertEqual(result.faces.count, 2)
        // The expectation over the group midpoints lies between the lowest
        // (1) and the highest (80).
        for face in result.faces { XCTAssertTrue((1...80).contains(try XCTUnwrap(face.age))) }
        XCTAssertEqual(result.faces[0].models, ["age": "age_net"])
    }

    // MARK: errors

    func testUnknownActionsAndModelsAreUsageErrors() {
        XCTAssertThrowsError(try AttributeAction.parse("age,smile")) { error in
            XCTAssertEqual(error as? FaceKitError, .unknownAction("smile", known: ["age", "gender", "race", "emotion"]))
            XCTAssertEqual((error as? FaceKitError)?.category, .usage)
        }
        XCTAssertThrowsError(try AttributeAction.parse(""))
        XCTAssertEqual(try AttributeAction.parse("gender, age,gender"), [.gender, .age])
        XCTAssertThrowsError(try analyze("img1.jpg", [.age], models: [.age: "fer"])) { error in
            guard case .unknownModel("fer", let known)? = error as? FaceKitError else { return XCTFail("\(error)") }
            XCTAssertEqual(known, ["deepface", "age_net"])
        }
        XCTAssertThrowsError(try analyze("img1.jpg", [.age], models: [.gender: "gender_net"])) { error in
            XCTAssertEqual((error as? FaceKitError)?.category, .input)
        }
    }

    func testMissingModelFilesNameTheFileAndTheFetchCommand() throws {
        let empty = FaceAnalyzer(engine: FaceEngine(store: ModelStore(home: Fixtures.temporaryDirectory)))
        let options = AnalysisOptions(actions: [.age, .gender], detection: detection)
        XCTAssertThrowsError(try empty.analyze(try Fixtures.image("img1.jpg"), options: options)) { error in
            guard case .modelFileMissing(_, let file, let command)? = error as? FaceKitError else { return XCTFail("\(error)") }
            XCTAssertTrue(file.hasSuffix("deploy_age.prototxt"), file)
            XCTAssertEqual(command, "facekit models pull age_net")
            XCTAssertEqual((error as? FaceKitError)?.category, .environment)
        }
        // Race alone, with no file: there is nothing to return, so it is an error.
        XCTAssertThrowsError(try empty.plan(.init(actions: [.race], detection: detection))) { error in
            guard case .modelFileMissing(_, let file, let command)? = error as? FaceKitError else { return XCTFail("\(error)") }
            XCTAssertTrue(file.hasSuffix("race_model_single_batch.onnx"), file)
            XCTAssertEqual(command, "facekit models pull Race")
        }
        // An explicit choice whose file is missing names that model's files.
        XCTAssertThrowsError(try empty.plan(.init(actions: [.emotion], detection: detection, models: [.emotion: "deepface"]))) { error in
            guard case .modelFileMissing(_, let file, _)? = error as? FaceKitError else { return XCTFail("\(error)") }
            XCTAssertTrue(file.hasSuffix("facial_expression_model_weights.onnx"), file)
        }
    }

    func testRaceWithoutItsFileIsReportedAndTheRestIsAnswered() throws {
        // A store with every file but deepface's: the real alternatives answer.
        let home = Fixtures.temporaryDirectory
        let models = home.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        for file in ModelRegistry.all where !file.digests.isEmpty {
            let source = ModelStore().url(for: file)
            if FileManager.default.fileExists(atPath: source.path) {
                try FileManager.default.createSymbolicLink(at: models.appendingPathComponent(file.fileName), withDestinationURL: source)
            }
        }
        let analyzer = FaceAnalyzer(engine: FaceEngine(store: ModelStore(home: home)))
        let result = try analyzer.analyze(try Fixtures.image("img2.jpg"), options: .init(detection: detection))
        XCTAssertEqual(result.models.mapValues(\.name), [.age: "age_net", .gender: "gender_net", .emotion: "fer"])
        XCTAssertNotNil(result.unavailable[.race])
        let face = try XCTUnwrap(result.faces.first)
        XCTAssertNil(face.race)
        XCTAssertNil(face.dominantRace)
        XCTAssertNotNil(face.unavailable?["race"])
        XCTAssertEqual(face.dominantGender, "Woman")
    }

    func testAnImageWithNoFaceIsAnInputError() throws {
        let grey = Fixtures.temporaryDirectory.appendingPathComponent("grey.png")
        try ImageFiles.png(width: 200, height: 150, colorType: 0, bitDepth: 8, pixel: [128]).write(to: grey)
        XCTAssertThrowsError(try Self.analyzer.analyze(.path(grey.path), options: .init(actions: [.emotion], detection: detection))) { error in
            guard case .noFaceDetected? = error as? FaceKitError else { return XCTFail("\(error)") }
        }
    }
}
