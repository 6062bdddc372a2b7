import Foundation

/// deepface's age, gender and race models are each VGG-Face with its own
/// head, in three files. deepface trained the heads on a frozen VGG-Face, so
/// the files agree on the convolutional trunk: running it once serves all
/// three. Here the three models are merged into one network that computes
/// the layers the files agree on (same type, parameters, inputs and
/// weights, compared value for value at load) once and each model's own
/// layers after them. Files that agree on nothing still give a correct
/// network, with nothing shared.
struct DeepfaceVGGHeadsPredictor: AttributePredictor {
    let models: [AttributeModel]
    private let network: KerasNetwork
    /// How many leading layers the files share (for the profile); nil when
    /// the merged network came from its saved plan.
    let sharedLayers: Int?

    init(models: [AttributeModel], paths: [String], copies: Int, profile: Bool = false, plans: PlanCache? = nil) throws {
        precondition(models.count == paths.count && !models.isEmpty)
        self.models = models
        func architecture(_ model: AttributeModel) throws -> KerasArchitecture {
            switch model.action {
            case .age: return .deepfaceAge
            case .gender: return .deepfaceGender
            case .race: return .deepfaceRace
            case .emotion: throw FaceKitError.modelLoadFailed(model: "deepface emotion", reason: "not a VGG-Face head")
            }
        }
        let architectures = try models.map(architecture)
        // The merged network's plan is named by every file's digest, in order.
        var plan: String?
        if let plans, let digests = try? paths.map({ try plans.digests.sha256(ofFile: $0) }) {
            let key = DigestCache.hex(digests.joined(separator: "+"))
            plan = plans.path(sha256: key, inputShape: [1, AnalysisCrop.deepfaceSide, AnalysisCrop.deepfaceSide, 3],
                              tag: architectures.map(\.name).joined(separator: "+"))
        }
        var shared: Int?
        let build = { () throws -> KerasModel in
            let loaded = try zip(architectures, paths).map { try KerasModel.load($0, file: $1) }
            let (merged, count) = KerasModel.merged(loaded)
            shared = count
            if profile {
                let total = loaded.map(\.layers.count).reduce(0, +)
                FileHandle.standardError.write(Data("profile deepface VGG-Face heads (\(models.map(\.action.rawValue).joined(separator: "+"))): \(count) leading layers shared, \(merged.layers.count) layers run instead of \(total)\n".utf8))
            }
            return merged
        }
        let side = AnalysisCrop.deepfaceSide
        network = try KerasNetwork(plan: plan, architecture: architectures.map(\.name).joined(separator: "+"),
                                   file: paths.joined(separator: ", "), inputShape: [side, side, 3], workers: copies, load: build)
        sharedLayers = shared
    }

    func predict(_ crops: [AnalysisCrop]) throws -> [[AttributeScores]] {
        guard !crops.isEmpty else { return models.map { _ in [] } }
        let batch = try crops.flatMap { crop -> [Float] in
            guard let input = crop.deepfaceInput else {
                throw FaceKitError.inferenceFailed("deepface's VGG-Face models need the 224x224 face input")
            }
            return input
        }
        let outputs = try network.predict(batch, count: crops.count)
        guard outputs.count == models.count else {
            throw FaceKitError.inferenceFailed("merged VGG-Face network gave \(outputs.count) outputs for \(models.count) models")
        }
        return try zip(models, outputs).map { model, flat in
            let width = model.action == .age ? 101 : model.action.labels.count
            guard flat.count == crops.count * width else {
                throw FaceKitError.inferenceFailed("deepface \(model.action.rawValue) gave \(flat.count) values for \(crops.count) faces")
            }
            return rows(flat, count: crops.count, width: width).map { p in
                model.action == .age ? .age(p.enumerated().reduce(0) { $0 + $1.element * Double($1.offset) }) : .classes(p)
            }
        }
    }
}

extension KerasModel {
    /// One model computing every given model's outputs (in order): the
    /// leading layers all of them agree on once, then each model's remaining
    /// layers. Layer i has id i + 1 (0 is the input), so a model's own layers
    /// are renumbered after the layers already placed.
    static func merged(_ models: [KerasModel]) -> (model: KerasModel, shared: Int) {
        let base = models[0]
        var shared = models.map(\.layers.count).min() ?? 0
        for other in models.dropFirst() {
            var k = 0
            while k < shared, Self.sameLayer(base.layers[k], other.layers[k]) { k += 1 }
            shared = k
        }
        // A shared layer that is also an output stays shared; nothing else to check.
        var layers = Array(base.layers.prefix(shared))
        var outputs: [Int32] = []
        var outputShapes: [[Int]] = []
        for (m, model) in models.enumerated() {
            let placed = Int32(layers.count)
            let remap = { (id: Int32) -> Int32 in id <= Int32(shared) ? id : placed + id - Int32(shared) }
            for layer in model.layers.dropFirst(shared) {
                layers.append(PreparedLayer(name: "\(layer.name)@\(m)", type: layer.type, params: layer.params,
                                            inputs: layer.inputs.map(remap), blobs: layer.blobs, expected: layer.expected))
            }
            outputs += model.outputs.map(remap)
            outputShapes += model.outputShapes
        }
        let merged = KerasModel(architecture: models.map(\.architecture).joined(separator: " + "),
                                file: models.map(\.file).joined(separator: ", "), inputShape: base.inputShape,
                                outputShapes: outputShapes, layers: layers, outputs: outputs)
        return (merged, shared)
    }

    private static func sameLayer(_ a: PreparedLayer, _ b: PreparedLayer) -> Bool {
        guard a.name == b.name, a.type == b.type, a.params == b.params, a.inputs == b.inputs, a.expected == b.expected,
              a.blobs.count == b.blobs.count else { return false }
        return zip(a.blobs, b.blobs).allSatisfy { $0.shape == $1.shape && $0.data == $1.data }
    }
}
