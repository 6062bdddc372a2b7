import Foundation

/// A tensor while an architecture is described: the Keras layer that makes
/// it, the OpenCV layer that computes it, and its Keras shape without the
/// batch axis ([H, W, C] or [N]).
public struct KerasTensor: Sendable {
    let id: Int32      // OpenCV layer; 0 is the input, -1 a layer that is checked but never run
    let node: Int      // Keras layer; 0 is the input
    public let shape: [Int]

    var isImage: Bool { shape.count == 3 }
    /// The shape OpenCV gives the same tensor: NCHW or (1, N).
    var openCVShape: [Int32] {
        isImage ? [1, Int32(shape[2]), Int32(shape[0]), Int32(shape[1])] : [1] + shape.map { Int32($0) }
    }
}

/// Keras' padding modes. `same` is TensorFlow's: the output is ceil(in /
/// stride) and the odd pixel of padding goes after (bottom, right).
public enum KerasPadding: Sendable { case same, valid }

public enum KerasActivation: String, Sendable {
    case linear, relu, sigmoid, softmax, tanh
    /// tf.keras' hard_sigmoid: clip(0.2 x + 0.5, 0, 1).
    case hardSigmoid
}

/// How the layers of an architecture find their weights in a file.
public enum KerasWeightMatching: Sendable {
    /// By layer name (fer's full-model save). A layer the description names
    /// but the file does not (Keras' automatic names) takes the first unused
    /// layer of its kind.
    case byName
    /// By position among the layers that hold weights, in the order of
    /// Keras' `model.layers`, as Keras' `load_weights` matches a file saved
    /// with `save_weights`: this is how deepface loads its .h5 files, whose
    /// automatic layer names (conv2d_17, ...) depend on the session that
    /// saved them.
    case byOrder
}

/// One OpenCV layer of a prepared model, with its converted weights.
struct PreparedLayer: Sendable {
    struct Blob: Sendable {
        let data: [Float]
        let shape: [Int32]
    }
    let name: String
    let type: String
    let params: String
    let inputs: [Int32]
    var blobs: [Blob]
    let expected: [Int32]
}

/// Builds an OpenCV layer graph from a Keras-style description. Each builder
/// method is one Keras layer; it may become several OpenCV layers. Weights
/// are bound once the whole description is known (Keras' weight order
/// depends on the whole graph): each is read, its shape checked against the
/// description, and converted from Keras' layouts (HWIO kernels, (in, out)
/// dense matrices) to OpenCV's (OIHW, (out, in)); batch norm is folded into a
/// per-channel scale and shift.
public final class KerasGraphBuilder {
    /// A Keras layer: its inputs (Keras layers) and, when it holds weights,
    /// what it expects and how its weights become blobs.
    private struct Node {
        let name: String
        let inputs: [Int]
        let weights: WeightRequest?
    }

    private struct WeightRequest {
        let count: ClosedRange<Int>
        let role: String
        /// Reads the layer's weights from the file entry and returns the blobs
        /// of each OpenCV layer it fills (by index in `layers`).
        let bind: ((layer: String, weights: [String])) throws -> [(Int, [PreparedLayer.Blob])]
    }

    let architecture: String
    let file: KerasWeightFile
    let matching: KerasWeightMatching
    private(set) var layers: [PreparedLayer] = []
    private var nodes: [Node] = [Node(name: "input", inputs: [], weights: nil)]
    /// Keras layers that the saved model has but the outputs do not use (a
    /// classifier after an embedding): roots of Keras' ordering too.
    private var extraRoots: [Int] = []
    private var usedNames: Set<String> = []
    /// Zero-padding layers by OpenCV id, with their input: a valid
    /// convolution right after one takes the padding itself (one pass over
    /// the data instead of two), and the padding layer is pruned if nothing
    /// else reads it.
    private var zeroPads: [Int32: (source: KerasTensor, t: Int, b: Int, l: Int, r: Int)] = [:]
    public let input: KerasTensor

    init(architecture: String, file: KerasWeightFile, matching: KerasWeightMatching, inputShape: [Int]) {
        self.architecture = architecture
        self.file = file
        self.matching = matching
        input = KerasTensor(id: 0, node: 0, shape: inputShape)
    }

    private func mismatch(_ reason: String) -> FaceKitError {
        .modelFileInvalid(file: file.path, reason: "does not fit \(architecture): \(reason)")
    }

    // MARK: binding

    /// Matches the description's weighted layers to the file's, reads and
    /// converts every weight. Every weighted layer of the file must be used:
    /// a file with more or other layers is another model.
    func bind(outputs: [KerasTensor]) throws {
        let order = kerasOrder(roots: outputs.map(\.node) + extraRoots).filter { nodes[$0].weights != nil }
        var assigned: [(Int, (layer: String, weights: [String]))] = []
        var consumed = Set<String>()
        switch matching {
        case .byOrder:
            guard order.count == file.weightedLayers.count else {
                throw mismatch("the file has \(file.weightedLayers.count) layers with weights, the architecture \(order.count)")
            }
            assigned = Array(zip(order, file.weightedLayers))
        case .byName:
            for n in order {
                let request = nodes[n].weights!
                let entry = file.weightedLayers.first(where: { $0.layer == nodes[n].name && !consumed.contains($0.layer) })
                    ?? file.weightedLayers.first(where: {
                        !consumed.contains($0.layer) && request.count.contains($0.weights.count) && Self.role($0.weights[0]) == request.role
                    })
                guard let entry else { throw mismatch("the file has no weights for layer '\(nodes[n].name)'") }
                consumed.insert(entry.layer)
                assigned.append((n, entry))
            }
        }
        for (n, entry) in assigned {
            let request = nodes[n].weights!
            guard request.count.contains(entry.weights.count) else {
                throw mismatch("layer '\(entry.layer)' has \(entry.weights.count) weights (\(entry.weights.joined(separator: ", "))) where layer '\(nodes[n].name)' of the architecture needs \(request.count.lowerBound == request.count.upperBound ? "\(request.count.lowerBound)" : "\(request.count.lowerBound)-\(request.count.upperBound)")")
            }
            guard Self.role(entry.weights[0]) == request.role else {
                throw mismatch("layer '\(entry.layer)' starts with weight '\(entry.weights[0])' where layer '\(nodes[n].name)' of the architecture needs '\(request.role)'")
            }
            for (index, blobs) in try request.bind(entry) { layers[index].blobs = blobs }
        }
        // Checked after binding, so that a layer whose shapes differ is named
        // as such rather than as a leftover.
        let unused = file.weightedLayers.map(\.layer).filter { name in !assigned.contains { $0.1.layer == name } }
        if let first = unused.first {
            throw mismatch("\(unused.count) layer(s) with weights are not part of the architecture, first '\(first)'")
        }
    }

    /// Drops OpenCV layers that no output depends on (paddings a
    /// convolution absorbed) and renumbers the rest; OpenCV would otherwise
    /// compute every layer added before the last output.
    func pruned(outputs: [KerasTensor]) -> (layers: [PreparedLayer], outputs: [Int32]) {
        var live = Set<Int32>(outputs.map(\.id))
        for index in layers.indices.reversed() where live.contains(Int32(index + 1)) {
            live.formUnion(layers[index].inputs)
        }
        var renumber: [Int32: Int32] = [0: 0]
        var kept: [PreparedLayer] = []
        for (index, layer) in layers.enumerated() where live.contains(Int32(index + 1)) {
            renumber[Int32(index + 1)] = Int32(kept.count + 1)
            kept.append(PreparedLayer(name: layer.name, type: layer.type, params: layer.params,
                                      inputs: layer.inputs.map { renumber[$0]! }, blobs: layer.blobs, expected: layer.expected))
        }
        return (kept, outputs.map { renumber[$0.id]! })
    }

    /// Keras' `model.layers` order for a functional model: layers by depth
    /// (longest path to an output) from deepest, ties broken by the order a
    /// depth-first walk from the outputs first meets them. For a Sequential
    /// model this is simply the order of the layers.
    private func kerasOrder(roots: [Int]) -> [Int] {
        var firstSeen: [Int: Int] = [:]
        var finished = Set<Int>()
        var postOrder: [Int] = []
        func visit(_ n: Int) {
            if finished.contains(n) { return }
            if firstSeen[n] == nil { firstSeen[n] = firstSeen.count }
            for i in nodes[n].inputs { visit(i) }
            finished.insert(n)
            postOrder.append(n)
        }
        for r in roots { visit(r) }
        var depth: [Int: Int] = [:]
        for n in postOrder.reversed() {
            let d = depth[n, default: 0]
            for i in nodes[n].inputs { depth[i] = max(depth[i, default: 0], d + 1) }
        }
        return postOrder.sorted { a, b in
            let (da, db) = (depth[a, default: 0], depth[b, default: 0])
            return da != db ? da > db : firstSeen[a]! < firstSeen[b]!
        }
    }

    /// The last path component of a weight name without Keras' ":0".
    static func role(_ weight: String) -> String {
        let last = weight.split(separator: "/").last.map(String.init) ?? weight
        return last.split(separator: ":").first.map(String.init) ?? last
    }

    private func read(_ entry: (layer: String, weights: [String]), _ index: Int, _ shape: [Int]) throws -> [Float] {
        try file.read(layer: entry.layer, weight: entry.weights[index], expecting: shape)
    }

    // MARK: graph

    private func node(_ name: String, _ inputs: [KerasTensor], weights: WeightRequest? = nil) -> Int {
        nodes.append(Node(name: name, inputs: inputs.map(\.node), weights: weights))
        return nodes.count - 1
    }

    /// Adds one OpenCV layer; returns its index in `layers` and its tensor.
    @discardableResult
    private func layer(_ name: String, _ type: String, _ params: String, _ inputs: [KerasTensor], node: Int,
                       shape: [Int], expected: [Int32]? = nil) throws -> KerasTensor {
        if let bad = inputs.first(where: { $0.id < 0 }) {
            throw mismatch("layer '\(name)' uses a tensor that is never computed (\(KerasWeightFile.text(bad.shape)))")
        }
        var unique = name
        var n = 1
        while usedNames.contains(unique) {
            unique = "\(name)#\(n)"
            n += 1
        }
        usedNames.insert(unique)
        let out = KerasTensor(id: Int32(layers.count + 1), node: node, shape: shape)
        layers.append(PreparedLayer(name: unique, type: type, params: params, inputs: inputs.map(\.id), blobs: [],
                                    expected: expected ?? out.openCVShape))
        return out
    }

    private var nextLayerIndex: Int { layers.count }

    private func requireImage(_ x: KerasTensor, _ name: String) throws {
        guard x.isImage else { throw mismatch("layer '\(name)' needs an image tensor, got shape \(KerasWeightFile.text(x.shape))") }
    }

    /// TF padding amounts (top, bottom, left, right) and output size.
    private func padding(_ x: KerasTensor, kernel: (Int, Int), strides: (Int, Int), dilation: Int = 1,
                         _ mode: KerasPadding) throws -> (t: Int, b: Int, l: Int, r: Int, h: Int, w: Int) {
        let (h, w) = (x.shape[0], x.shape[1])
        let ek = ((kernel.0 - 1) * dilation + 1, (kernel.1 - 1) * dilation + 1)
        switch mode {
        case .valid:
            guard h >= ek.0, w >= ek.1 else {
                throw mismatch("a \(kernel.0)x\(kernel.1) window does not fit a \(h)x\(w) input")
            }
            return (0, 0, 0, 0, (h - ek.0) / strides.0 + 1, (w - ek.1) / strides.1 + 1)
        case .same:
            let oh = (h + strides.0 - 1) / strides.0, ow = (w + strides.1 - 1) / strides.1
            let ph = max((oh - 1) * strides.0 + ek.0 - h, 0), pw = max((ow - 1) * strides.1 + ek.1 - w, 0)
            return (ph / 2, ph - ph / 2, pw / 2, pw - pw / 2, oh, ow)
        }
    }

    /// Symmetric padding goes into the convolution; OpenCV 4.6's convolution
    /// has no asymmetric padding, so TF's odd "same" pixel becomes an
    /// explicit Padding layer before it.
    private func padForConv(_ x: KerasTensor, _ p: (t: Int, b: Int, l: Int, r: Int, h: Int, w: Int), name: String,
                            node: Int) throws -> (KerasTensor, String) {
        if p.t == 0 && p.b == 0 && p.l == 0 && p.r == 0, let pad = zeroPads[x.id], pad.t == pad.b, pad.l == pad.r {
            return (pad.source, "pad_h=\(pad.t);pad_w=\(pad.l)")
        }
        if p.t == p.b && p.l == p.r { return (x, "pad_h=\(p.t);pad_w=\(p.l)") }
        let padded = try layer(name + "/pad", "Padding", "paddings=0,0,0,0,\(p.t),\(p.b),\(p.l),\(p.r);value=0", [x], node: node,
                               shape: [x.shape[0] + p.t + p.b, x.shape[1] + p.l + p.r, x.shape[2]])
        return (padded, "pad_h=0;pad_w=0")
    }

    private func applyActivation(_ x: KerasTensor, _ kind: KerasActivation, name: String, node: Int) throws -> KerasTensor {
        switch kind {
        case .linear: return KerasTensor(id: x.id, node: node, shape: x.shape)
        case .relu: return try layer(name, "ReLU", "", [x], node: node, shape: x.shape)
        case .sigmoid: return try layer(name, "Sigmoid", "", [x], node: node, shape: x.shape)
        case .tanh: return try layer(name, "TanH", "", [x], node: node, shape: x.shape)
        case .softmax: return try layer(name, "Softmax", "axis=1", [x], node: node, shape: x.shape)
        case .hardSigmoid:
            let affine = try layer(name + "/affine", "Power", "power=1;scale=0.2;shift=0.5", [x], node: node, shape: x.shape)
            return try layer(name, "ReLU6", "min_value=0;max_value=1", [affine], node: node, shape: x.shape)
        }
    }

    /// Keras Activation.
    public func activation(_ x: KerasTensor, _ kind: KerasActivation, name: String) throws -> KerasTensor {
        try applyActivation(x, kind, name: name, node: node(name, [x]))
    }

    /// Keras Dropout: nothing at inference, but a layer in Keras' ordering.
    public func dropout(_ x: KerasTensor, name: String) -> KerasTensor {
        KerasTensor(id: x.id, node: node(name, [x]), shape: x.shape)
    }

    /// Keras Conv2D (HWIO kernel, optional bias).
    public func conv2D(_ x: KerasTensor, filters: Int, kernel: (Int, Int), strides: (Int, Int) = (1, 1),
                       padding mode: KerasPadding = .valid, dilation: Int = 1, useBias: Bool = true,
                       activation act: KerasActivation = .linear, name: String) throws -> KerasTensor {
        try requireImage(x, name)
        let cin = x.shape[2]
        let p = try padding(x, kernel: kernel, strides: strides, dilation: dilation, mode)
        let index = Box(0)
        let n = node(name, [x], weights: WeightRequest(count: useBias ? 2...2 : 1...1, role: "kernel") { [unowned self] entry in
            let k = try read(entry, 0, [kernel.0, kernel.1, cin, filters])
            var blobs = [PreparedLayer.Blob(data: Self.hwioToOIHW(k, kernel.0, kernel.1, cin, filters),
                                            shape: [Int32(filters), Int32(cin), Int32(kernel.0), Int32(kernel.1)])]
            if useBias { blobs.append(.init(data: try read(entry, 1, [filters]), shape: [Int32(filters)])) }
            return [(index.value, blobs)]
        })
        let (source, pads) = try padForConv(x, p, name: name, node: n)
        index.value = nextLayerIndex
        let params = "kernel_h=\(kernel.0);kernel_w=\(kernel.1);stride_h=\(strides.0);stride_w=\(strides.1);\(pads);dilation_h=\(dilation);dilation_w=\(dilation);num_output=\(filters);bias_term=\(useBias ? 1 : 0);group=1"
        let y = try layer(name, "Convolution", params, [source], node: n, shape: [p.h, p.w, filters])
        return try applyActivation(y, act, name: name + "/act", node: n)
    }

    /// A Conv2D that the file holds but the outputs do not need (the
    /// classifier after VGG-Face's embedding): matched in Keras' order and
    /// its shapes checked, never read or run.
    public func unusedConv2D(_ x: KerasTensor, filters: Int, kernel: (Int, Int), useBias: Bool = true, name: String) throws {
        let cin = x.shape.last ?? 0
        let n = node(name, [x], weights: WeightRequest(count: useBias ? 2...2 : 1...1, role: "kernel") { [unowned self] entry in
            let expected = [[kernel.0, kernel.1, cin, filters], [filters]]
            for (i, weight) in entry.weights.enumerated() {
                let actual = try file.shape(layer: entry.layer, weight: weight)
                guard actual == expected[i] else {
                    throw FaceKitError.modelFileInvalid(
                        file: file.path,
                        reason: "layer '\(entry.layer)' weight '\(weight)' has shape \(KerasWeightFile.text(actual)), the architecture expects \(KerasWeightFile.text(expected[i]))")
                }
            }
            return []
        })
        extraRoots.append(n)
    }

    /// Keras DepthwiseConv2D: kernel (kh, kw, C, multiplier); output channel
    /// c * multiplier + m, which is OpenCV's grouped convolution order.
    public func depthwiseConv2D(_ x: KerasTensor, kernel: (Int, Int), strides: (Int, Int) = (1, 1),
                                padding mode: KerasPadding = .valid, multiplier: Int = 1, useBias: Bool = true,
                                activation act: KerasActivation = .linear, name: String) throws -> KerasTensor {
        try requireImage(x, name)
        let c = x.shape[2], out = c * multiplier
        let p = try padding(x, kernel: kernel, strides: strides, mode)
        let index = Box(0)
        let n = node(name, [x], weights: WeightRequest(count: useBias ? 2...2 : 1...1, role: "depthwise_kernel") { [unowned self] entry in
            let k = try read(entry, 0, [kernel.0, kernel.1, c, multiplier])
            var blobs = [PreparedLayer.Blob(data: Self.depthwiseToOIHW(k, kernel.0, kernel.1, c, multiplier),
                                            shape: [Int32(out), 1, Int32(kernel.0), Int32(kernel.1)])]
            if useBias { blobs.append(.init(data: try read(entry, 1, [out]), shape: [Int32(out)])) }
            return [(index.value, blobs)]
        })
        let (source, pads) = try padForConv(x, p, name: name, node: n)
        index.value = nextLayerIndex
        let params = "kernel_h=\(kernel.0);kernel_w=\(kernel.1);stride_h=\(strides.0);stride_w=\(strides.1);\(pads);num_output=\(out);bias_term=\(useBias ? 1 : 0);group=\(c)"
        let y = try layer(name, "Convolution", params, [source], node: n, shape: [p.h, p.w, out])
        return try applyActivation(y, act, name: name + "/act", node: n)
    }

    /// Keras SeparableConv2D: a depthwise pass without bias, then a 1x1
    /// pointwise convolution that carries the bias.
    public func separableConv2D(_ x: KerasTensor, filters: Int, kernel: (Int, Int), strides: (Int, Int) = (1, 1),
                                padding mode: KerasPadding = .valid, multiplier: Int = 1, useBias: Bool = true,
                                activation act: KerasActivation = .linear, name: String) throws -> KerasTensor {
        try requireImage(x, name)
        let c = x.shape[2], mid = c * multiplier
        let p = try padding(x, kernel: kernel, strides: strides, mode)
        let depthIndex = Box(0), pointIndex = Box(0)
        let n = node(name, [x], weights: WeightRequest(count: useBias ? 3...3 : 2...2, role: "depthwise_kernel") { [unowned self] entry in
            let dw = try read(entry, 0, [kernel.0, kernel.1, c, multiplier])
            let pw = try read(entry, 1, [1, 1, mid, filters])
            var blobs = [PreparedLayer.Blob(data: Self.hwioToOIHW(pw, 1, 1, mid, filters), shape: [Int32(filters), Int32(mid), 1, 1])]
            if useBias { blobs.append(.init(data: try read(entry, 2, [filters]), shape: [Int32(filters)])) }
            return [(depthIndex.value, [.init(data: Self.depthwiseToOIHW(dw, kernel.0, kernel.1, c, multiplier),
                                              shape: [Int32(mid), 1, Int32(kernel.0), Int32(kernel.1)])]),
                    (pointIndex.value, blobs)]
        })
        let (source, pads) = try padForConv(x, p, name: name, node: n)
        depthIndex.value = nextLayerIndex
        let depthwise = try layer(name + "/depthwise", "Convolution",
                                  "kernel_h=\(kernel.0);kernel_w=\(kernel.1);stride_h=\(strides.0);stride_w=\(strides.1);\(pads);num_output=\(mid);bias_term=0;group=\(c)",
                                  [source], node: n, shape: [p.h, p.w, mid])
        pointIndex.value = nextLayerIndex
        let y = try layer(name, "Convolution", "kernel_h=1;kernel_w=1;stride_h=1;stride_w=1;pad_h=0;pad_w=0;num_output=\(filters);bias_term=\(useBias ? 1 : 0);group=1",
                          [depthwise], node: n, shape: [p.h, p.w, filters])
        return try applyActivation(y, act, name: name + "/act", node: n)
    }

    /// Keras BatchNormalization over the last axis, at inference, folded to
    /// y = x * gamma / sqrt(var + eps) + (beta - mean * gamma / sqrt(var + eps)).
    /// `scale` and `center` say whether the layer has gamma and beta.
    public func batchNorm(_ x: KerasTensor, epsilon: Float = 1e-3, scale: Bool = true, center: Bool = true,
                          name: String) throws -> KerasTensor {
        let c = x.shape.last ?? 0
        let count = 2 + (scale ? 1 : 0) + (center ? 1 : 0)
        let index = Box(0)
        let n = node(name, [x], weights: WeightRequest(count: count...count, role: scale ? "gamma" : center ? "beta" : "moving_mean") { [unowned self] entry in
            func find(_ key: String) throws -> [Float]? {
                guard let i = entry.weights.firstIndex(where: { Self.role($0) == key }) else { return nil }
                return try read(entry, i, [c])
            }
            let gamma = try find("gamma"), beta = try find("beta")
            guard let mean = try find("moving_mean"), let variance = try find("moving_variance"),
                  (gamma != nil) == scale, (beta != nil) == center else {
                throw mismatch("layer '\(entry.layer)' has weights \(entry.weights.joined(separator: ", ")); the architecture's batch norm '\(name)' expects scale=\(scale), center=\(center)")
            }
            var mul = [Float](repeating: 0, count: c), add = [Float](repeating: 0, count: c)
            for i in 0..<c {
                let s = (gamma?[i] ?? 1) / (variance[i] + epsilon).squareRoot()
                mul[i] = s
                add[i] = (beta?[i] ?? 0) - mean[i] * s
            }
            return [(index.value, [.init(data: mul, shape: [Int32(c)]), .init(data: add, shape: [Int32(c)])])]
        })
        index.value = nextLayerIndex
        return try layer(name, "Scale", "axis=1;bias_term=1", [x], node: n, shape: x.shape)
    }

    /// Keras PReLU with alpha shared over height and width (shared_axes=[1, 2]),
    /// the only form OpenCV's channel PReLU has.
    public func prelu(_ x: KerasTensor, name: String) throws -> KerasTensor {
        let c = x.shape.last ?? 0
        let index = Box(0)
        let n = node(name, [x], weights: WeightRequest(count: 1...1, role: "alpha") { [unowned self] entry in
            let alpha = try read(entry, 0, x.isImage ? [1, 1, c] : [c])
            return [(index.value, [.init(data: alpha, shape: [Int32(c)])])]
        })
        index.value = nextLayerIndex
        return try layer(name, "PReLU", "", [x], node: n, shape: x.shape)
    }

    public func maxPool(_ x: KerasTensor, pool: (Int, Int), strides: (Int, Int)? = nil, padding mode: KerasPadding = .valid,
                        name: String) throws -> KerasTensor {
        try pool2D(x, "MAX", pool: pool, strides: strides ?? pool, mode, name: name)
    }

    public func avgPool(_ x: KerasTensor, pool: (Int, Int), strides: (Int, Int)? = nil, padding mode: KerasPadding = .valid,
                        name: String) throws -> KerasTensor {
        try pool2D(x, "AVE", pool: pool, strides: strides ?? pool, mode, name: name)
    }

    /// Pooling with explicit TF pads and floor rounding (OpenCV defaults to
    /// Caffe's ceil). TF's average excludes the padding from the count.
    private func pool2D(_ x: KerasTensor, _ kind: String, pool: (Int, Int), strides: (Int, Int), _ mode: KerasPadding,
                        name: String) throws -> KerasTensor {
        try requireImage(x, name)
        let p = try padding(x, kernel: pool, strides: strides, mode)
        let params = "pool=\(kind);kernel_h=\(pool.0);kernel_w=\(pool.1);stride_h=\(strides.0);stride_w=\(strides.1);pad_t=\(p.t);pad_b=\(p.b);pad_l=\(p.l);pad_r=\(p.r);ceil_mode=0;ave_pool_padded_area=0"
        return try layer(name, "Pooling", params, [x], node: node(name, [x]), shape: [p.h, p.w, x.shape[2]])
    }

    public func globalAvgPool(_ x: KerasTensor, name: String) throws -> KerasTensor {
        try globalPool(x, "AVE", name: name)
    }

    public func globalMaxPool(_ x: KerasTensor, name: String) throws -> KerasTensor {
        try globalPool(x, "MAX", name: name)
    }

    private func globalPool(_ x: KerasTensor, _ kind: String, name: String) throws -> KerasTensor {
        try requireImage(x, name)
        let n = node(name, [x])
        let pooled = try layer(name + "/pool", "Pooling", "pool=\(kind);global_pooling=1", [x], node: n, shape: [1, 1, x.shape[2]])
        return try layer(name, "Flatten", "axis=1", [pooled], node: n, shape: [x.shape[2]])
    }

    public func zeroPad(_ x: KerasTensor, top: Int, bottom: Int, left: Int, right: Int, name: String) throws -> KerasTensor {
        try requireImage(x, name)
        let y = try layer(name, "Padding", "paddings=0,0,0,0,\(top),\(bottom),\(left),\(right);value=0", [x], node: node(name, [x]),
                          shape: [x.shape[0] + top + bottom, x.shape[1] + left + right, x.shape[2]])
        zeroPads[y.id] = (x, top, bottom, left, right)
        return y
    }

    /// Keras Dense on a vector: kernel (in, out) becomes OpenCV's (out, in).
    public func dense(_ x: KerasTensor, units: Int, useBias: Bool = true, activation act: KerasActivation = .linear,
                      name: String) throws -> KerasTensor {
        guard x.shape.count == 1 else { throw mismatch("layer '\(name)' needs a flat input, got \(KerasWeightFile.text(x.shape))") }
        let inputs = x.shape[0]
        let index = Box(0)
        let n = node(name, [x], weights: WeightRequest(count: useBias ? 2...2 : 1...1, role: "kernel") { [unowned self] entry in
            let k = try read(entry, 0, [inputs, units])
            var t = [Float](repeating: 0, count: inputs * units)
            for i in 0..<inputs { for o in 0..<units { t[o * inputs + i] = k[i * units + o] } }
            let bias = useBias ? try read(entry, 1, [units]) : [Float](repeating: 0, count: units)
            return [(index.value, [.init(data: t, shape: [Int32(units), Int32(inputs)]), .init(data: bias, shape: [1, Int32(units)])])]
        })
        index.value = nextLayerIndex
        let y = try layer(name, "InnerProduct", "num_output=\(units);bias_term=1;axis=1", [x], node: n, shape: [units])
        return try applyActivation(y, act, name: name + "/act", node: n)
    }

    /// Keras Flatten, in Keras' channels-last order (OpenCV's tensors are
    /// channels-first, so the tensor is permuted to NHWC first).
    public func flatten(_ x: KerasTensor, name: String) throws -> KerasTensor {
        try flatten(x, name: name, node: node(name, [x]))
    }

    private func flatten(_ x: KerasTensor, name: String, node n: Int) throws -> KerasTensor {
        guard x.isImage else { return KerasTensor(id: x.id, node: n, shape: x.shape) }
        let total = x.shape.reduce(1, *)
        if x.shape[0] == 1 && x.shape[1] == 1 {
            return try layer(name, "Flatten", "axis=1", [x], node: n, shape: [total])
        }
        // OpenCV sees the permuted tensor as (1, H, W, C).
        let nhwc = try layer(name + "/nhwc", "Permute", "order=0,2,3,1", [x], node: n, shape: x.shape,
                             expected: [1, Int32(x.shape[0]), Int32(x.shape[1]), Int32(x.shape[2])])
        return try layer(name, "Flatten", "axis=1", [nhwc], node: n, shape: [total])
    }

    /// Keras Reshape from a vector (or 1x1 image) to (1, 1, C) or to a vector.
    public func reshape(_ x: KerasTensor, to shape: [Int], name: String) throws -> KerasTensor {
        guard shape.reduce(1, *) == x.shape.reduce(1, *) else {
            throw mismatch("layer '\(name)' reshapes \(KerasWeightFile.text(x.shape)) to \(KerasWeightFile.text(shape))")
        }
        let n = node(name, [x])
        let flat = try flatten(x, name: name + "/flat", node: n)
        switch shape.count {
        case 1: return flat
        case 3 where shape[0] == 1 && shape[1] == 1:
            return try layer(name, "Reshape", "dim=1,\(shape[2]),1,1", [flat], node: n, shape: shape)
        default:
            throw mismatch("layer '\(name)': reshape to \(KerasWeightFile.text(shape)) is not supported")
        }
    }

    public func concat(_ xs: [KerasTensor], name: String) throws -> KerasTensor {
        guard let first = xs.first, xs.allSatisfy({ $0.shape.dropLast() == first.shape.dropLast() }) else {
            throw mismatch("layer '\(name)' concatenates tensors of different shapes \(xs.map { KerasWeightFile.text($0.shape) })")
        }
        let channels = xs.reduce(0) { $0 + ($1.shape.last ?? 0) }
        return try layer(name, "Concat", "axis=1", xs, node: node(name, xs), shape: Array(first.shape.dropLast()) + [channels])
    }

    public func add(_ xs: [KerasTensor], name: String) throws -> KerasTensor {
        guard let first = xs.first, xs.allSatisfy({ $0.shape == first.shape }) else {
            throw mismatch("layer '\(name)' adds tensors of different shapes \(xs.map { KerasWeightFile.text($0.shape) })")
        }
        return try layer(name, "Eltwise", "operation=sum", xs, node: node(name, xs), shape: first.shape)
    }

    /// Keras Multiply, including the squeeze-and-excitation form where the
    /// second input is (1, 1, C) and broadcasts over height and width.
    public func multiply(_ a: KerasTensor, _ b: KerasTensor, name: String) throws -> KerasTensor {
        let n = node(name, [a, b])
        if a.shape == b.shape { return try layer(name, "Eltwise", "operation=prod", [a, b], node: n, shape: a.shape) }
        let (big, small) = a.shape.reduce(1, *) >= b.shape.reduce(1, *) ? (a, b) : (b, a)
        guard big.isImage, small.shape == [1, 1, big.shape[2]] else {
            throw mismatch("layer '\(name)' multiplies \(KerasWeightFile.text(a.shape)) by \(KerasWeightFile.text(b.shape))")
        }
        return try layer(name, "Scale", "axis=1;bias_term=0", [big, small], node: n, shape: big.shape)
    }

    /// A Lambda that multiplies by a constant (Facenet's residual scaling).
    public func scale(_ x: KerasTensor, by factor: Float, name: String) throws -> KerasTensor {
        try layer(name, "Power", "power=1;scale=\(factor);shift=0", [x], node: node(name, [x]), shape: x.shape)
    }

    /// A Lambda computing x^p (OpenFace's L2 pooling: x**2, then sqrt).
    public func power(_ x: KerasTensor, _ exponent: Float, name: String) throws -> KerasTensor {
        try layer(name, "Power", "power=\(exponent);scale=1;shift=0", [x], node: node(name, [x]), shape: x.shape)
    }

    /// K.l2_normalize over a vector: x / sqrt(max(sum(x^2), 1e-12)); OpenCV
    /// adds the epsilon instead, the same to float precision.
    public func l2Normalize(_ x: KerasTensor, name: String) throws -> KerasTensor {
        guard x.shape.count == 1 else { throw mismatch("layer '\(name)' normalises vectors, got \(KerasWeightFile.text(x.shape))") }
        return try layer(name, "Normalize", "p=2;eps=1e-12;across_spatial=1", [x], node: node(name, [x]), shape: x.shape)
    }

    /// TensorFlow's local response normalisation across channels:
    /// x / (bias + alpha * sum over 2r+1 channels of x^2)^beta (alpha not
    /// divided by the window, unlike Caffe's).
    public func lrn(_ x: KerasTensor, depthRadius: Int = 5, bias: Float = 1, alpha: Float = 1, beta: Float = 0.5,
                    name: String) throws -> KerasTensor {
        try layer(name, "LRN", "norm_region=ACROSS_CHANNELS;local_size=\(2 * depthRadius + 1);alpha=\(alpha);beta=\(beta);bias=\(bias);norm_by_size=0",
                  [x], node: node(name, [x]), shape: x.shape)
    }

    // MARK: layouts

    static func hwioToOIHW(_ k: [Float], _ kh: Int, _ kw: Int, _ cin: Int, _ cout: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k.count)
        k.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<kh {
                    for w in 0..<kw {
                        for i in 0..<cin {
                            let s = ((h * kw + w) * cin + i) * cout
                            for o in 0..<cout { dst[((o * cin + i) * kh + h) * kw + w] = src[s + o] }
                        }
                    }
                }
            }
        }
        return out
    }

    static func depthwiseToOIHW(_ k: [Float], _ kh: Int, _ kw: Int, _ c: Int, _ m: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k.count)
        for h in 0..<kh {
            for w in 0..<kw {
                for ch in 0..<c {
                    for j in 0..<m { out[((ch * m + j) * kh + h) * kw + w] = k[((h * kw + w) * c + ch) * m + j] }
                }
            }
        }
        return out
    }
}

/// A value filled in after the closure that reads it is made (the index of
/// the OpenCV layer a weight request fills).
private final class Box {
    var value: Int
    init(_ value: Int) { self.value = value }
}
