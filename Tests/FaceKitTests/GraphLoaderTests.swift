import CFaceKitNative
@testable import FaceKit
import Foundation
import XCTest

/// The ONNX rewrite for OpenCV 4.6 (onnx_rewrite.cpp through GraphCache and
/// GraphRecognizer): real SFace and YuNet files give what the plain importer
/// gives, a dynamic-batch graph of the kind PyTorch exports is folded and
/// runs, the cache is used, and bad files fail by name.
final class GraphLoaderTests: XCTestCase {
    let store = ModelStore()

    func modelPath(_ file: ModelFile) throws -> String {
        let path = store.url(for: file).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkipFailure("\(file.fileName) missing in \(store.modelsDirectory.path): run scripts/ensure-models.sh")
        }
        return path
    }

    func freshCache() -> GraphCache { GraphCache(directory: Fixtures.temporaryDirectory) }

    /// Deterministic, face-like range input.
    func input(count: Int, scale: Float) -> [Float] {
        (0..<count).map { Float(($0 * 7919) % 256) / 255 * scale }
    }

    func testSFaceThroughTheRewriteMatchesThePlainImporter() throws {
        let path = try modelPath(ModelRegistry.sface)
        let prepared = try freshCache().prepare(source: path, inputShape: [1, 3, 112, 112], model: "SFace")
        XCTAssertTrue(prepared.rewritten)
        XCTAssertEqual(prepared.outputShape, [1, 128])
        let x = input(count: 3 * 112 * 112, scale: 255)
        let plain = try DnnNet(model: path, name: "SFace").forward(x, shape: [1, 3, 112, 112], outputCount: 128)
        let rewritten = try DnnNet(model: prepared.path, name: "SFace").forward(x, shape: [1, 3, 112, 112], outputCount: 128)
        XCTAssertEqual(plain, rewritten, "the rewritten SFace must compute bit for bit what the original does")
    }

    func testYuNetThroughTheRewriteMatchesThePlainImporter() throws {
        let path = try modelPath(ModelRegistry.yunet)
        // The file fixes its input at 640x640; the rewrite holds it to that.
        let prepared = try freshCache().prepare(source: path, inputShape: [1, 3, 640, 640], model: "yunet")
        let x = input(count: 3 * 640 * 640, scale: 255)
        // The output forward() returns without names: 4000 values.
        let plain = try DnnNet(model: path, name: "yunet").forward(x, shape: [1, 3, 640, 640], outputCount: 4000)
        let rewritten = try DnnNet(model: prepared.path, name: "yunet").forward(x, shape: [1, 3, 640, 640], outputCount: 4000)
        XCTAssertEqual(plain, rewritten)
        XCTAssertThrowsError(try freshCache().prepare(source: path, inputShape: [1, 3, 160, 160], model: "yunet")) { error in
            XCTAssertTrue("\(error)".contains("1x3x640x640"), "\(error)")
        }
    }

    /// SFace as the layer graph fk_graph_from_onnx builds (fk_graph's
    /// engine) against OpenCV's own importer of the same file, on real faces:
    /// the same embeddings to 1e-5 and the same verify distance.
    func testSFaceAsATranslatedGraphMatchesOpenCVsImporter() throws {
        let path = try modelPath(ModelRegistry.sface)
        let graph = try SFaceRecognizer(path: path, workers: 1, engine: .automatic)
        let opencv = try SFaceRecognizer(path: path, workers: 1, engine: .opencv)
        XCTAssertTrue(graph.network.usesGraph, "SFace must translate: \(graph.network.fallbackReason ?? "")")
        XCTAssertFalse(opencv.network.usesGraph)
        let engine = Fixtures.engine
        var embeddings: [(graph: [Float], opencv: [Float])] = []
        for name in ["img1.jpg", "img2.jpg"] {
            let faces = try engine.extractFaces(try Fixtures.image(name), options: DetectionOptions(detector: .yunet))
            let input = try XCTUnwrap(faces.first, name).face.fitted(width: 112, height: 112)
            let a = try graph.embed([input])[0], b = try opencv.embed([input])[0]
            let scale = b.map { abs($0) }.max() ?? 0
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertGreaterThan(scale, 0)
            XCTAssertLessThanOrEqual(diff / scale, 1e-5, "\(name): max difference \(diff) for values up to \(scale)")
            embeddings.append((a, b))
        }
        let viaGraph = try DistanceMetric.cosine.distance(embeddings[0].graph, embeddings[1].graph)
        let viaOpenCV = try DistanceMetric.cosine.distance(embeddings[0].opencv, embeddings[1].opencv)
        XCTAssertEqual(viaGraph, viaOpenCV, accuracy: 2e-6)
        XCTAssertEqual(viaGraph, 0.5652, accuracy: 5e-5)
        // The engine's own verify (the graph unless FACEKIT_ENGINE=opencv).
        let r = try engine.verify(try Fixtures.image("img1.jpg"), try Fixtures.image("img2.jpg"), model: "SFace",
                                  options: .init(detection: .init(detector: .yunet)))
        XCTAssertEqual(r.distance, viaGraph, accuracy: 2e-6)
    }

    /// SFace from its saved plan: the same embedding to the bit as the
    /// translated file; a plan that is damaged (bad magic) or cut short is
    /// refused on opening and rebuilt from the model file.
    func testSFaceFromItsSavedPlanAndADamagedPlanIsRebuilt() throws {
        let path = try modelPath(ModelRegistry.sface)
        let plans = PlanCache(store: ModelStore(home: Fixtures.temporaryDirectory))
        let faces = try Fixtures.engine.extractFaces(try Fixtures.image("img1.jpg"), options: DetectionOptions(detector: .yunet))
        let input = try XCTUnwrap(faces.first).face.fitted(width: 112, height: 112)
        let reference = try SFaceRecognizer(path: path, workers: 1, engine: .automatic).embed([input])[0]
        let first = try SFaceRecognizer(path: path, workers: 1, engine: .automatic, plans: plans)
        XCTAssertEqual(try first.embed([input])[0], reference)
        let plan = try XCTUnwrap(plans.path(source: path, inputShape: [1, 3, 112, 112]))
        XCTAssertTrue(FileManager.default.fileExists(atPath: plan))
        var out: OpaquePointer?
        var nhwc: Int32 = 1
        var error = fk_error()
        XCTAssertEqual(fk_graph_open_plan(plan, &out, &nhwc, &error), FK_OK, Native.message(error))
        XCTAssertEqual(nhwc, 0)
        fk_graph_free(out)
        XCTAssertEqual(try SFaceRecognizer(path: path, workers: 2, engine: .automatic, plans: plans).embed([input])[0], reference)
        // A sibling copy (copies per lane) reads the first copy's mapped
        // weights and computes what a graph translated afresh does; a graph
        // not opened from a plan has no sibling.
        let shape = [1, 3, 112, 112]
        let mappedGraph = try OnnxGraph(path: path, inputShape: shape, plan: plan)
        let sibling = try XCTUnwrap(OnnxGraph(siblingOf: mappedGraph))
        let fresh = try OnnxGraph(path: path, inputShape: shape)
        XCTAssertNil(OnnxGraph(siblingOf: fresh))
        let sample = input.map { $0 * 255 }
        let want = try fresh.forward(sample, outputCount: 128)
        XCTAssertEqual(try sibling.forward(sample, outputCount: 128), want)
        XCTAssertEqual(try mappedGraph.forward(sample, outputCount: 128), want)
        XCTAssertGreaterThan(Set(want).count, 100)
        let whole = try Data(contentsOf: URL(fileURLWithPath: plan))
        for damaged in [Data("NOTAPLAN".utf8) + whole.dropFirst(8), whole.prefix(whole.count - 4096)] {
            try damaged.write(to: URL(fileURLWithPath: plan))
            error = fk_error()
            XCTAssertEqual(fk_graph_open_plan(plan, &out, &nhwc, &error), FK_ERR_MODEL_LOAD)
            XCTAssertTrue(Native.message(error).contains("corrupt plan"), Native.message(error))
            XCTAssertEqual(try SFaceRecognizer(path: path, workers: 1, engine: .automatic, plans: plans).embed([input])[0], reference)
            // Written again, whole.
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: plan)).count, whole.count)
            error = fk_error()
            XCTAssertEqual(fk_graph_open_plan(plan, &out, &nhwc, &error), FK_OK, Native.message(error))
            fk_graph_free(out)
        }
    }

    /// YuNet translates (nearest upsampling, heads read channels-last), at
    /// the 640 x 640 its detector runs; a file the translator cannot express
    /// exactly (MTCNN's P-net: 4-d outputs that fk_graph would return
    /// channels-last) runs through OpenCV's importer, as before, with the
    /// reason kept.
    func testYuNetTranslatesAndAnUntranslatableFileFallsBack() throws {
        let yunet = try OnnxNetwork(path: try modelPath(ModelRegistry.yunet), inputShape: [1, 3, 640, 640], name: "yunet",
                                    workers: 1, engine: .automatic)
        XCTAssertTrue(yunet.usesGraph, yunet.fallbackReason ?? "")
        let pnet = try OnnxNetwork(path: try modelPath(ModelRegistry.mtcnnPNet), inputShape: [1, 3, 24, 24], name: "pnet",
                                   workers: 1, engine: .automatic)
        XCTAssertFalse(pnet.usesGraph)
        XCTAssertTrue(pnet.fallbackReason?.contains("channels-last") ?? false, pnet.fallbackReason ?? "no reason")
        // The rewritten dense test graph translates (its input is read as it is, not transposed).
        let dir = Fixtures.temporaryDirectory
        let file = dir.appendingPathComponent("dense.onnx")
        try TinyONNX.dense(height: 5, width: 4, outputs: 7).write(to: file)
        let prepared = try GraphCache(directory: dir).prepare(source: file.path, inputShape: [1, 5, 4, 3], model: "tiny")
        let x = input(count: 60, scale: 1)
        let viaGraph = try OnnxNetwork(path: prepared.path, inputShape: [1, 5, 4, 3], name: "tiny", workers: 1, engine: .automatic)
        let viaOpenCV = try OnnxNetwork(path: prepared.path, inputShape: [1, 5, 4, 3], name: "tiny", workers: 1, engine: .opencv)
        XCTAssertTrue(viaGraph.usesGraph, viaGraph.fallbackReason ?? "")
        // The graph runs on oneDNN, whose sums round differently: equal to 1e-5 of the largest value.
        let a = try viaGraph.forward(x, outputCount: 7), b = try viaOpenCV.forward(x, outputCount: 7)
        XCTAssertEqual(a.count, b.count)
        let scale = b.map(abs).max() ?? 1
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max() ?? .infinity, 1e-5 * scale, "\(a) vs \(b)")
    }

    /// Each operator the translator maps, against OpenCV's importer of the
    /// same file.
    func testTranslatedOperatorsMatchOpenCVsImporter() throws {
        let file = Fixtures.temporaryDirectory.appendingPathComponent("operators.onnx")
        try TinyONNX.operators().write(to: file)
        let shape = [1, 9, 7, 3]
        let graph = try OnnxNetwork(path: file.path, inputShape: shape, name: "tiny", workers: 1, engine: .automatic)
        let opencv = try OnnxNetwork(path: file.path, inputShape: shape, name: "tiny", workers: 1, engine: .opencv)
        XCTAssertTrue(graph.usesGraph, graph.fallbackReason ?? "")
        for scale: Float in [1, 255] {
            let x = input(count: 9 * 7 * 3, scale: scale)
            let a = try graph.forward(x, outputCount: 5), b = try opencv.forward(x, outputCount: 5)
            for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-5 * max(1, abs(v)), "\(a) vs \(b)") }
        }
    }

    /// Gemm's alpha, beta and (in, out) matrix, by the ONNX definition.
    /// (OpenCV 4.6's importer gives [5.25, 10] for this file.)
    func testGemmScalesAndTransposesAsONNXDefinesIt() throws {
        let file = Fixtures.temporaryDirectory.appendingPathComponent("gemm.onnx")
        try TinyONNX.scaledGemm().write(to: file)
        let graph = try OnnxNetwork(path: file.path, inputShape: [1, 2, 1, 1], name: "tiny", workers: 1, engine: .automatic)
        XCTAssertTrue(graph.usesGraph, graph.fallbackReason ?? "")
        XCTAssertEqual(try graph.forward([1, 2], outputCount: 2), [4, 3])
    }

    /// ONNX's count_include_pad=1 divides every window by the full 3x3:
    /// 4/9 in the corners, 6/9 on the edges. (OpenCV 4.6's importer reads
    /// the flag only from PyTorch's exports and gives 1 everywhere here.)
    func testAveragePoolingCountsThePaddingWhenAsked() throws {
        let file = Fixtures.temporaryDirectory.appendingPathComponent("average.onnx")
        try TinyONNX.paddedAverage().write(to: file)
        let graph = try OnnxNetwork(path: file.path, inputShape: [1, 1, 5, 5], name: "tiny", workers: 1, engine: .automatic)
        XCTAssertTrue(graph.usesGraph, graph.fallbackReason ?? "")
        let out = try graph.forward([Float](repeating: 1, count: 25), outputCount: 9)
        let expected: [Float] = [4, 6, 4, 6, 9, 6, 4, 6, 4].map { $0 / 9 }
        for (u, v) in zip(out, expected) { XCTAssertEqual(u, v, accuracy: 1e-6, "\(out)") }
    }

    func testSecondPreparationComesFromTheCache() throws {
        let path = try modelPath(ModelRegistry.sface)
        let cache = freshCache()
        let first = try cache.prepare(source: path, inputShape: [1, 3, 112, 112], model: "SFace")
        let second = try cache.prepare(source: path, inputShape: [1, 3, 112, 112], model: "SFace")
        XCTAssertTrue(first.rewritten)
        XCTAssertFalse(second.rewritten)
        XCTAssertEqual(first.path, second.path)
        XCTAssertEqual(second.outputShape, [1, 128])
        XCTAssertEqual(first.sourceSHA256, ModelRegistry.sface.digests.first { $0.sha256 == first.sourceSHA256 }?.sha256,
                       "the cache key is the file's SHA-256")
    }

    func testAPyTorchStyleDynamicGraphIsFoldedAndRuns() throws {
        let dir = Fixtures.temporaryDirectory
        let file = dir.appendingPathComponent("dynamic.onnx")
        try TinyONNX.dynamicBatchGraph().write(to: file)
        let prepared = try GraphCache(directory: dir).prepare(source: file.path, inputShape: [1, 4, 4, 3], model: "tiny")
        XCTAssertEqual(prepared.outputShape, [1, 48])
        let x = (0..<48).map { Float($0) - 24 }
        let out = try DnnNet(model: prepared.path, name: "tiny").forward(x, shape: [1, 4, 4, 3], outputCount: 48)
        // NHWC -> NCHW, flattened, then max(., 0) (the If's then-branch, since C == 3).
        var expected = [Float](repeating: 0, count: 48)
        for c in 0..<3 { for h in 0..<4 { for w in 0..<4 { expected[c * 16 + h * 4 + w] = max(x[(h * 4 + w) * 3 + c], 0) } } }
        XCTAssertEqual(out, expected)
    }

    func testAGraphOfAnotherSizeFailsByName() throws {
        let dir = Fixtures.temporaryDirectory
        let file = dir.appendingPathComponent("wrong.onnx")
        try TinyONNX.dynamicBatchGraph().write(to: file)
        let engine = FaceEngine(store: ModelStore(home: dir), weights: ["ArcFace": file.path])
        XCTAssertThrowsError(try engine.prepare(detector: .skip, models: ["ArcFace"])) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("ArcFace"), text)
            XCTAssertTrue(text.contains("wrong.onnx"), text)
        }
    }

    func testCorruptTruncatedAndMismatchedFilesFailByName() throws {
        let dir = Fixtures.temporaryDirectory
        let sface = try Data(contentsOf: URL(fileURLWithPath: try modelPath(ModelRegistry.sface)))
        let cases: [(String, Data)] = [
            ("random.onnx", Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })),
            ("truncated.onnx", sface.prefix(sface.count / 2)),
            ("empty.onnx", Data()),
            ("text.onnx", Data("not a model at all\n".utf8)),
        ]
        for (name, bytes) in cases {
            let file = dir.appendingPathComponent(name)
            try bytes.write(to: file)
            let engine = FaceEngine(store: ModelStore(home: dir), weights: ["Facenet": file.path])
            XCTAssertThrowsError(try engine.prepare(detector: .skip, models: ["Facenet"]), name) { error in
                guard case FaceKitError.modelLoadFailed(let model, let reason) = error else {
                    return XCTFail("\(name): \(error)")
                }
                XCTAssertEqual(model, "Facenet", name)
                XCTAssertTrue(reason.contains(name), "\(name): \(reason)")
            }
        }
        // A real graph with another input layout (SFace takes 1x3x112x112).
        let engine = FaceEngine(store: ModelStore(home: dir), weights: ["Facenet": try modelPath(ModelRegistry.sface)])
        XCTAssertThrowsError(try engine.prepare(detector: .skip, models: ["Facenet"])) { error in
            guard case FaceKitError.modelLoadFailed(let model, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(model, "Facenet")
            XCTAssertTrue(reason.contains("1x3x112x112"), reason)
        }
    }

    func testADamagedKerasFileIsAClearErrorNamingTheModel() throws {
        let dir = Fixtures.temporaryDirectory
        let file = dir.appendingPathComponent("facenet_weights.h5")
        try Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]).write(to: file)
        let engine = FaceEngine(store: ModelStore(home: dir), weights: ["Facenet": file.path])
        XCTAssertThrowsError(try engine.prepare(detector: .skip, models: ["Facenet"])) { error in
            guard case FaceKitError.modelLoadFailed(let model, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(model, "Facenet")
            XCTAssertTrue(reason.contains(".h5"), reason)
        }
    }

    func testMissingDeepfaceFileNamesTheFileAndTheCommand() throws {
        let engine = FaceEngine(store: ModelStore(home: Fixtures.temporaryDirectory))
        XCTAssertThrowsError(try engine.prepare(detector: .skip, models: ["GhostFaceNet"])) { error in
            guard case FaceKitError.modelFileMissing(let model, let file, let command) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(model, "GhostFaceNet")
            XCTAssertTrue(file.hasSuffix("ghostfacenet_v1.onnx"), file)
            XCTAssertTrue(command.contains("facekit models import"), command)
        }
    }

    func testImportAcceptsAnUnpublishedFileByFormatAndRecordsItsDigest() throws {
        let source = Fixtures.temporaryDirectory
        let home = Fixtures.temporaryDirectory
        // A graph of DeepID's shapes (55x47 NHWC in, 160 out) under DeepID's name.
        try TinyONNX.dense(height: 55, width: 47, outputs: 160).write(to: source.appendingPathComponent("deepid_weights.onnx"))
        // Facenet's name on a graph of the wrong size is refused.
        try TinyONNX.dense(height: 55, width: 47, outputs: 160).write(to: source.appendingPathComponent("facenet_weights.onnx"))
        let store = ModelStore(home: home)
        let report = try store.importFiles(from: source)
        XCTAssertEqual(report.imported, ["deepid_weights.onnx"])
        XCTAssertEqual(report.rejected.map(\.file), ["facenet_weights.onnx"])
        guard case .verified = try store.status(of: ModelRegistry.deepIDONNX) else {
            return XCTFail("an imported file is verified against the digest recorded at import")
        }
        // Changed in place: no longer the file that was imported.
        try TinyONNX.dense(height: 55, width: 47, outputs: 160, seed: 2).write(to: store.url(for: ModelRegistry.deepIDONNX))
        guard case .unknownDigest = try store.status(of: ModelRegistry.deepIDONNX) else {
            return XCTFail("a changed file must not pass for the imported one")
        }
    }

    func testDenseGraphEmbedsThroughTheEngineAsDeepfaceFeedsIt() throws {
        // A linear map of the NHWC input: the embedding can be computed here.
        let dir = Fixtures.temporaryDirectory
        let file = dir.appendingPathComponent("deepid_weights.onnx")
        try TinyONNX.dense(height: 55, width: 47, outputs: 160).write(to: file)
        let engine = FaceEngine(store: ModelStore(home: dir), weights: ["DeepID": file.path])
        let options = DetectionOptions(detector: .skip, enforceDetection: false)
        let timed = try engine.timeEmbedding(try Fixtures.image("img1.jpg"), model: "DeepID", options: options, runs: 2)
        XCTAssertEqual(timed.embedding.count, 160)
        XCTAssertEqual(timed.seconds.count, 2)
        XCTAssertTrue(timed.embedding.contains { $0 != 0 }, "a real face gives a non-zero linear map")
    }
}

/// Small ONNX files written byte by byte (protobuf wire format), so that the
/// rewrite is tested on graphs whose every node is known.
enum TinyONNX {
    struct Message {
        var data = Data()
        mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 { data.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
            data.append(UInt8(v))
        }
        mutating func int(_ field: Int, _ value: Int64) { varint(UInt64(field << 3)); varint(UInt64(bitPattern: value)) }
        mutating func bytes(_ field: Int, _ value: Data) { varint(UInt64(field << 3 | 2)); varint(UInt64(value.count)); data.append(value) }
        mutating func string(_ field: Int, _ value: String) { bytes(field, Data(value.utf8)) }
        mutating func message(_ field: Int, _ value: Message) { bytes(field, value.data) }
    }

    static func tensor(_ name: String, dims: [Int64], int64 values: [Int64]) -> Message {
        var t = Message()
        for d in dims { t.int(1, d) }
        t.int(2, 7)
        t.string(8, name)
        var raw = Data()
        for v in values { withUnsafeBytes(of: v.littleEndian) { raw.append(contentsOf: $0) } }
        t.bytes(9, raw)
        return t
    }

    static func tensor(_ name: String, dims: [Int64], float values: [Float]) -> Message {
        var t = Message()
        for d in dims { t.int(1, d) }
        t.int(2, 1)
        t.string(8, name)
        var raw = Data()
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw.append(contentsOf: $0) } }
        t.bytes(9, raw)
        return t
    }

    static func attribute(_ name: String, int value: Int64) -> Message {
        var a = Message(); a.string(1, name); a.int(3, value); a.int(20, 2); return a
    }

    static func attribute(_ name: String, ints values: [Int64]) -> Message {
        var a = Message(); a.string(1, name); for v in values { a.int(8, v) }; a.int(20, 7); return a
    }

    static func attribute(_ name: String, float value: Float) -> Message {
        var a = Message(); a.string(1, name)
        a.varint(UInt64(2 << 3 | 5))
        withUnsafeBytes(of: value.bitPattern.littleEndian) { a.data.append(contentsOf: $0) }
        a.int(20, 1)
        return a
    }

    static func attribute(_ name: String, string value: String) -> Message {
        var a = Message(); a.string(1, name); a.string(4, value); a.int(20, 3); return a
    }

    static func attribute(_ name: String, graph: Message) -> Message {
        var a = Message(); a.string(1, name); a.message(6, graph); a.int(20, 5); return a
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], _ attributes: [Message] = []) -> Message {
        var n = Message()
        for i in inputs { n.string(1, i) }
        for o in outputs { n.string(2, o) }
        n.string(3, op + "_" + (outputs.first ?? ""))
        n.string(4, op)
        for a in attributes { n.message(5, a) }
        return n
    }

    /// dims: nil is the symbolic batch "n".
    static func valueInfo(_ name: String, _ dims: [Int64?]) -> Message {
        var shape = Message()
        for d in dims {
            var dim = Message()
            if let d { dim.int(1, d) } else { dim.string(2, "n") }
            shape.message(1, dim)
        }
        var tensorType = Message(); tensorType.int(1, 1); tensorType.message(2, shape)
        var type = Message(); type.message(1, tensorType)
        var vi = Message(); vi.string(1, name); vi.message(2, type)
        return vi
    }

    static func model(nodes: [Message], initializers: [Message], input: Message, output: Message) -> Data {
        var graph = Message()
        for n in nodes { graph.message(1, n) }
        graph.string(2, "tiny")
        for t in initializers { graph.message(5, t) }
        graph.message(11, input)
        graph.message(12, output)
        var opset = Message(); opset.string(1, ""); opset.int(2, 17)
        var model = Message()
        model.int(1, 8)
        model.string(2, "facekit-tests")
        model.message(8, opset)
        model.message(7, graph)
        return model.data
    }

    /// What PyTorch writes for `x.permute(0, 3, 1, 2).reshape(x.size(0), -1)`
    /// with a dynamic batch, plus an If on a shape and runtime axes inputs.
    static func dynamicBatchGraph() -> Data {
        var thenGraph = Message()
        thenGraph.message(1, node("Identity", ["r3"], ["y_then"]))
        thenGraph.string(2, "then")
        thenGraph.message(12, valueInfo("y_then", [nil, 48]))
        var elseGraph = Message()
        elseGraph.message(1, node("Neg", ["r3"], ["y_else"]))
        elseGraph.string(2, "else")
        elseGraph.message(12, valueInfo("y_else", [nil, 48]))
        let nodes = [
            node("Transpose", ["x"], ["t"], [attribute("perm", ints: [0, 3, 1, 2])]),
            node("Shape", ["t"], ["s"]),
            node("Gather", ["s", "zero"], ["b"], [attribute("axis", int: 0)]),
            node("Unsqueeze", ["b", "axes0"], ["bu"]),
            node("Concat", ["bu", "minus1"], ["shp"], [attribute("axis", int: 0)]),
            node("Reshape", ["t", "shp"], ["r"]),
            node("Unsqueeze", ["r", "axes2"], ["r2"]),
            node("Squeeze", ["r2", "axes2"], ["r2s"]),
            node("Max", ["r2s", "fzero"], ["r3"]),
            node("Gather", ["s", "one"], ["c"], [attribute("axis", int: 0)]),
            node("Equal", ["c", "three"], ["cond"]),
            node("If", ["cond"], ["y"], [attribute("then_branch", graph: thenGraph), attribute("else_branch", graph: elseGraph)]),
        ]
        let initializers = [
            tensor("zero", dims: [], int64: [0]), tensor("one", dims: [], int64: [1]), tensor("three", dims: [], int64: [3]),
            tensor("axes0", dims: [1], int64: [0]), tensor("axes2", dims: [1], int64: [2]), tensor("minus1", dims: [1], int64: [-1]),
            tensor("fzero", dims: [], float: [0]),
        ]
        return model(nodes: nodes, initializers: initializers, input: valueInfo("x", [nil, 4, 4, 3]), output: valueInfo("y", [nil, 48]))
    }

    /// Every translation the deepface and SFace files use, and the forms
    /// around them (asymmetric pads, per-channel constants on either side,
    /// ceil-mode pooling, a squeeze-and-excitation product), on an NHWC
    /// input with the leading transpose.
    static func operators(seed: Int = 3) -> Data {
        var state = UInt64(seed)
        func values(_ n: Int, _ low: Float = -1, _ high: Float = 1) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return low + (high - low) * Float(state >> 40) / Float(1 << 24)
            }
        }
        var initializers: [Message] = []
        func const(_ name: String, _ dims: [Int64], _ low: Float = -1, _ high: Float = 1) -> String {
            initializers.append(tensor(name, dims: dims, float: values(Int(dims.reduce(1, *)), low, high)))
            return name
        }
        let nodes = [
            node("Transpose", ["x"], ["t"], [attribute("perm", ints: [0, 3, 1, 2])]),
            node("Sub", [const("k0", [], 0.4, 0.6), "t"], ["s0"]),
            node("Conv", ["s0", const("w1", [4, 3, 3, 3]), const("b1", [4])], ["c1"],
                 [attribute("kernel_shape", ints: [3, 3]), attribute("pads", ints: [0, 1, 2, 1]), attribute("strides", ints: [2, 1])]),
            node("BatchNormalization", ["c1", const("g", [4]), const("be", [4]), const("m", [4]), const("v", [4], 0.5, 2)], ["bn"],
                 [attribute("epsilon", float: 1e-3)]),
            node("PRelu", ["bn", const("sl", [4, 1, 1])], ["p1"]),
            node("Mul", [const("mc", [1, 4, 1, 1]), "p1"], ["m1"]),
            node("Add", ["m1", const("ac", [4, 1, 1])], ["a1"]),
            node("Div", ["a1", const("dc", [4, 1, 1], 0.5, 2)], ["d1"]),
            node("Clip", ["d1"], ["cl"], [attribute("min", float: -0.8), attribute("max", float: 0.9)]),
            node("MaxPool", ["cl"], ["mp"], [attribute("kernel_shape", ints: [3, 3]), attribute("strides", ints: [2, 2]), attribute("ceil_mode", int: 1)]),
            node("Pad", ["mp", "pads"], ["pd"], [attribute("mode", string: "constant")]),
            node("Conv", ["pd", const("w2", [4, 1, 3, 3])], ["c2"], [attribute("kernel_shape", ints: [3, 3]), attribute("group", int: 4)]),
            node("GlobalAveragePool", ["c2"], ["gp"]),
            node("Sigmoid", ["gp"], ["sg"]),
            node("Mul", ["c2", "sg"], ["se"]),
            node("Tanh", ["se"], ["th"]),
            node("Concat", ["se", "th"], ["cat"], [attribute("axis", int: 1)]),
            node("LRN", ["cat"], ["lrn"], [attribute("size", int: 3), attribute("alpha", float: 0.01), attribute("beta", float: 0.75), attribute("bias", float: 1)]),
            node("Relu", ["lrn"], ["r"]),
            node("Flatten", ["r"], ["f"], [attribute("axis", int: 1)]),
            node("Gemm", ["f", const("fw", [5, 16]), const("fb", [5])], ["fc"], [attribute("transB", int: 1)]),
            node("BatchNormalization", ["fc", const("g2", [5]), const("be2", [5]), const("m2", [5]), const("v2", [5], 0.5, 2)], ["bn2"]),
            node("Softmax", ["bn2"], ["y"], [attribute("axis", int: 1)]),
        ]
        initializers.append(tensor("pads", dims: [8], int64: [0, 0, 1, 0, 0, 0, 0, 1]))
        return model(nodes: nodes, initializers: initializers, input: valueInfo("x", [1, 9, 7, 3]), output: valueInfo("y", [1, 5]))
    }

    /// y = 0.5 * x B + 2 C with B (in, out) = [[1, 2], [3, 4]] (transB=0)
    /// and C = [0.25, -1]: x = [1, 2] gives [4, 3].
    static func scaledGemm() -> Data {
        let nodes = [
            node("Flatten", ["x"], ["f"], [attribute("axis", int: 1)]),
            node("Gemm", ["f", "b", "c"], ["y"], [attribute("alpha", float: 0.5), attribute("beta", float: 2)]),
        ]
        let initializers = [tensor("b", dims: [2, 2], float: [1, 2, 3, 4]), tensor("c", dims: [2], float: [0.25, -1])]
        return model(nodes: nodes, initializers: initializers, input: valueInfo("x", [1, 2, 1, 1]), output: valueInfo("y", [1, 2]))
    }

    /// AveragePool counting the padding (count_include_pad=1), flattened.
    static func paddedAverage() -> Data {
        let nodes = [
            node("AveragePool", ["x"], ["p"], [attribute("kernel_shape", ints: [3, 3]), attribute("strides", ints: [2, 2]),
                                              attribute("pads", ints: [1, 1, 1, 1]), attribute("count_include_pad", int: 1)]),
            node("Flatten", ["p"], ["y"], [attribute("axis", int: 1)]),
        ]
        return model(nodes: nodes, initializers: [], input: valueInfo("x", [1, 1, 5, 5]), output: valueInfo("y", [1, 9]))
    }

    /// A linear layer over a flattened NHWC image.
    static func dense(height: Int, width: Int, outputs: Int, seed: Int = 1) -> Data {
        let inputs = height * width * 3
        let weights = (0..<(inputs * outputs)).map { Float((($0 &* 2654435761 &+ seed) % 2001) - 1000) / 1000 / Float(inputs) }
        let nodes = [
            node("Flatten", ["x"], ["f"], [attribute("axis", int: 1)]),
            node("Gemm", ["f", "w", "bias"], ["y"], [attribute("transB", int: 1)]),
        ]
        let initializers = [
            tensor("w", dims: [Int64(outputs), Int64(inputs)], float: weights),
            tensor("bias", dims: [Int64(outputs)], float: (0..<outputs).map { Float($0) / 100 }),
        ]
        return model(nodes: nodes, initializers: initializers, input: valueInfo("x", [nil, Int64(height), Int64(width), 3]),
                     output: valueInfo("y", [nil, Int64(outputs)]))
    }
}
