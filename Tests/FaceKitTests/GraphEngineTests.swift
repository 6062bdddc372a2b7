import CFaceKitNative
@testable import FaceKit
import Foundation
import XCTest

/// The oneDNN engine of fk_graph against the OpenCV net it replaces: small
/// graphs over every layer kind of the vocabulary (and the fusions the plan
/// makes), seeded random weights and inputs, the same numbers to 1e-4 of the
/// output's scale. A layer oneDNN does not run keeps the graph on OpenCV.
final class GraphEngineTests: XCTestCase {
    /// A graph description, run once per engine.
    private final class Spec {
        struct Layer {
            let name, type, params: String
            let inputs: [Int32]
            let blobs: [(data: [Float], shape: [Int32])]
        }
        var layers: [Layer] = []
        let input: [Int32]  // NCHW
        /// Convolution kernels handed over in Keras' layout (kh, kw, in, out).
        var kerasKernels = false
        private var state: UInt64

        init(input: [Int32], seed: UInt64 = 42) {
            self.input = input
            state = seed
        }

        /// Uniform in [lo, hi), from a fixed linear congruential sequence.
        func random(_ count: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
            }
        }

        /// Adds a layer; blobs are random of the given shapes (or given).
        @discardableResult
        func add(_ type: String, _ params: String = "", _ inputs: [Int32], blobs: [[Int32]] = [], range: (Float, Float) = (-1, 1),
                 values: [[Float]]? = nil) -> Int32 {
            let made = blobs.enumerated().map { i, shape in
                (data: values?[i] ?? random(shape.reduce(1) { $0 * Int($1) }, range.0, range.1), shape: shape)
            }
            layers.append(Layer(name: "\(type.lowercased())\(layers.count + 1)", type: type, params: params, inputs: inputs, blobs: made))
            return Int32(layers.count)
        }

        /// Convolution with weights and bias, OpenCV's parameters.
        @discardableResult
        func conv(_ x: Int32, cin: Int32, out: Int32, k: Int32, stride: Int32 = 1, pad: Int32 = 0, group: Int32 = 1, dilation: Int32 = 1,
                  bias: Bool = true) -> Int32 {
            add("Convolution",
                "kernel_h=\(k);kernel_w=\(k);stride_h=\(stride);stride_w=\(stride);pad_h=\(pad);pad_w=\(pad);dilation_h=\(dilation);dilation_w=\(dilation);num_output=\(out);bias_term=\(bias ? 1 : 0);group=\(group)",
                [x], blobs: bias ? [[out, cin / group, k, k], [out]] : [[out, cin / group, k, k]], range: (-0.5, 0.5))
        }

        /// Batch norm as the Keras loader folds it: a per-channel Scale.
        @discardableResult
        func batchNorm(_ x: Int32, _ c: Int32) -> Int32 {
            add("Scale", "axis=1;bias_term=1", [x], blobs: [[c], [c]], values: [random(Int(c), 0.5, 1.5), random(Int(c), -0.5, 0.5)])
        }

        /// `plan`: where finish saves the graph's plan.
        func run(engine: String, outputs: [Int32], samples: Int, plan: String? = nil) throws -> (out: [Float], engine: String, summary: String) {
            let graph = try Native.make { out, err in fk_graph_new_with_engine(out, engine, err) }
            defer { fk_graph_free(graph) }
            if let plan { try Native.check { err in fk_graph_set_plan_output(graph, plan, 1, err) } }
            for layer in layers {
                var id: Int32 = 0
                var copies: [(UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Int32>)] = []
                for blob in layer.blobs {
                    let d = UnsafeMutableBufferPointer<Float>.allocate(capacity: blob.data.count)
                    _ = d.initialize(from: blob.data)
                    let s = UnsafeMutableBufferPointer<Int32>.allocate(capacity: blob.shape.count)
                    _ = s.initialize(from: blob.shape)
                    copies.append((d, s))
                }
                defer { for (d, s) in copies { d.deallocate(); s.deallocate() } }
                let blobs = copies.enumerated().map { i, copy in
                    let keras: Int32 = kerasKernels && layer.type == "Convolution" && i == 0 ? 1 : 0
                    return fk_blob(data: copy.0.baseAddress, shape: copy.1.baseAddress, dims: Int32(copy.1.count), from_keras: keras)
                }
                try Native.check { err in
                    fk_graph_add(graph, layer.name, layer.type, layer.params, layer.inputs, Int32(layer.inputs.count), blobs,
                                 Int32(blobs.count), nil, 0, &id, err)
                }
            }
            try Native.check { err in fk_graph_finish(graph, input, 4, outputs, Int32(outputs.count), err) }
            return try forward(graph, samples: samples)
        }

        /// The graph of a saved plan, run as `run` runs a built one.
        func runPlan(_ plan: String, samples: Int) throws -> (out: [Float], engine: String, nhwc: Int32) {
            var handle: OpaquePointer?
            var nhwc: Int32 = 0
            try Native.check { err in fk_graph_open_plan(plan, &handle, &nhwc, err) }
            let graph = try XCTUnwrap(handle)
            defer { fk_graph_free(graph) }
            let result = try forward(graph, samples: samples)
            return (result.out, result.engine, nhwc)
        }

        private func forward(_ graph: OpaquePointer, samples: Int) throws -> (out: [Float], engine: String, summary: String) {
            // Fixed inputs, the same for both engines.
            var x = [Float]()
            var seed: UInt64 = 7
            let floats = samples * input.reduce(1) { $0 * Int($1) }
            for _ in 0..<floats {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                x.append(Float(seed >> 40) / Float(1 << 24) * 4 - 2)
            }
            var out = [Float](repeating: .nan, count: 1 << 16)
            var written = 0
            try Native.check { err in fk_graph_forward(graph, x, Int32(samples), &out, out.count, &written, err) }
            return (Array(out[0..<written]), String(cString: fk_graph_engine(graph)), String(cString: fk_graph_summary(graph)))
        }

        /// Both engines, oneDNN checked against OpenCV.
        func check(outputs: [Int32], samples: Int = 2, file: StaticString = #filePath, line: UInt = #line) throws {
            let reference = try run(engine: "opencv", outputs: outputs, samples: samples)
            let onednn = try run(engine: "onednn", outputs: outputs, samples: samples)
            XCTAssertEqual(reference.engine, "opencv", file: file, line: line)
            XCTAssertEqual(onednn.engine, "onednn", file: file, line: line)
            XCTAssertEqual(onednn.out.count, reference.out.count, "output sizes", file: file, line: line)
            guard onednn.out.count == reference.out.count, !reference.out.isEmpty else { return }
            let scale = reference.out.map { abs($0) }.max()!
            let diff = zip(onednn.out, reference.out).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(scale, 0, file: file, line: line)
            XCTAssertLessThanOrEqual(diff / scale, 1e-4, "max |diff| \(diff), max |reference| \(scale)", file: file, line: line)
            XCTAssertFalse(onednn.out.contains { $0.isNaN }, file: file, line: line)
        }
    }

    func testConvolutionsWithFoldedBatchNormPaddingAndActivations() throws {
        let g = Spec(input: [1, 3, 13, 11])
        // Conv -> batch norm -> ReLU: one convolution with a post-op.
        var x = g.conv(0, cin: 3, out: 8, k: 3, pad: 1)
        x = g.batchNorm(x, 8)
        x = g.add("ReLU", "", [x])
        // TF's odd "same" pixel: a zero Padding folded into the strided conv.
        x = g.add("Padding", "paddings=0,0,0,0,0,1,0,1;value=0", [x])
        x = g.conv(x, cin: 8, out: 16, k: 3, stride: 2)
        x = g.add("PReLU", "", [x], blobs: [[16]], range: (0, 0.5))
        // Depthwise with dilation, no bias, then clip, sigmoid and tanh.
        x = g.conv(x, cin: 16, out: 16, k: 3, pad: 2, group: 16, dilation: 2, bias: false)
        x = g.add("ReLU6", "min_value=0;max_value=1", [g.add("Power", "power=1;scale=0.2;shift=0.5", [x])])
        let s = g.add("Sigmoid", "", [g.conv(x, cin: 16, out: 12, k: 1)])
        let t = g.add("TanH", "", [g.conv(x, cin: 16, out: 12, k: 1, bias: false)])
        let leaky = g.add("ReLU", "negative_slope=0.1", [g.add("Eltwise", "operation=sum", [s, t])])
        // Power with an exponent on non-negative values, standalone.
        let root = g.add("Power", "power=0.5;scale=1;shift=0", [g.add("ReLU", "", [leaky])])
        try g.check(outputs: [root, leaky])
    }

    /// A saved plan holds the whole network: parameters, small blobs (biases,
    /// folded batch norm, PReLU slopes, dense weights' bias) and the
    /// reordered weights. The graph it opens gives the built graph's numbers
    /// to the bit, and hands back the caller's input flag.
    func testASavedPlanRunsAsTheGraphItWasSavedFrom() throws {
        let g = Spec(input: [1, 3, 12, 10])
        var x = g.conv(0, cin: 3, out: 8, k: 3, pad: 1)
        x = g.batchNorm(x, 8)
        x = g.add("PReLU", "", [x], blobs: [[8]], range: (0, 0.5))
        x = g.conv(x, cin: 8, out: 8, k: 3, pad: 1, group: 8, bias: false)
        let pooled = g.add("Pooling", "pool=max;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2", [x])
        let flat = g.add("Flatten", "axis=1", [pooled])
        let dense = g.add("InnerProduct", "num_output=5;bias_term=1", [flat], blobs: [[5, 240], [5]])
        let soft = g.add("Softmax", "axis=1", [dense])
        let plan = Fixtures.temporaryDirectory.appendingPathComponent("net.fkplan").path
        let built = try g.run(engine: "onednn", outputs: [soft, pooled], samples: 2, plan: plan)
        let opened = try g.runPlan(plan, samples: 2)
        XCTAssertEqual(opened.engine, "onednn")
        XCTAssertEqual(opened.nhwc, 1)
        XCTAssertEqual(opened.out, built.out)
        XCTAssertFalse(built.out.isEmpty)
        // The plan is only written by a graph that runs on oneDNN.
        let none = Fixtures.temporaryDirectory.appendingPathComponent("none.fkplan").path
        _ = try g.run(engine: "opencv", outputs: [soft], samples: 1, plan: none)
        XCTAssertFalse(FileManager.default.fileExists(atPath: none))
    }

    /// 3x3 stride-1 convolutions of 100 M multiply-adds and more run on
    /// oneDNN's Winograd kernels (4x3 tiles at 28 x 28, 2x3 at 14 x 14),
    /// fused with a folded batch norm and ReLU; their weights reach the
    /// Winograd layout from OpenCV's layout and from Keras' (through a plain
    /// copy), and through a saved plan.
    func testWinogradConvolutionsMatchOpenCV() throws {
        for keras in [false, true] {
            let g = Spec(input: [1, 128, 28, 28])
            g.kerasKernels = keras
            var x = g.add("ReLU", "", [g.conv(0, cin: 128, out: 128, k: 3, pad: 1)])
            x = g.add("ReLU", "", [g.batchNorm(g.conv(x, cin: 128, out: 128, k: 3, pad: 1), 128)])
            let pooled = g.add("Pooling", "pool=MAX;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2", [x])
            let wide = g.conv(pooled, cin: 128, out: 512, k: 3, pad: 1)
            let out = g.add("Pooling", "pool=MAX;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2", [wide])
            try g.check(outputs: [out])
            let plan = Fixtures.temporaryDirectory.appendingPathComponent("winograd-\(keras).fkplan").path
            let built = try g.run(engine: "onednn", outputs: [out], samples: 1, plan: plan)
            XCTAssertEqual(try g.runPlan(plan, samples: 1).out, built.out)
        }
    }

    /// VGG's fc6 and fc7: a convolution whose kernel covers its whole input
    /// (run as an inner product), its ReLU, then a 1x1 convolution reading
    /// its (1, O, 1, 1) result; also through a saved plan.
    func testAConvolutionOverItsWholeInputThenOneByOne() throws {
        let g = Spec(input: [1, 24, 5, 4])
        var x = g.add("Convolution", "kernel_h=5;kernel_w=4;stride_h=1;stride_w=1;pad_h=0;pad_w=0;num_output=40;bias_term=1;group=1",
                      [0], blobs: [[40, 24, 5, 4], [40]], range: (-0.3, 0.3))
        x = g.add("ReLU", "", [x])
        let out = g.conv(x, cin: 40, out: 12, k: 1)
        try g.check(outputs: [out, x])
        let plan = Fixtures.temporaryDirectory.appendingPathComponent("fc.fkplan").path
        let built = try g.run(engine: "onednn", outputs: [out], samples: 2, plan: plan)
        XCTAssertEqual(try g.runPlan(plan, samples: 2).out, built.out)
    }

    /// Products of 32 MB of weights and more whose input is a ReLU's (here
    /// through max pooling, or a flatten) read only the weight rows of its
    /// nonzero inputs: a VGG fc6 (a convolution over its whole input, also
    /// from Keras' kernel layout) and a dense layer; also through a saved plan.
    func testLargeProductsAfterAReLUReadOnlyTheRowsOfNonzeroInputs() throws {
        for keras in [false, true] {
            let g = Spec(input: [1, 16, 16, 16])
            g.kerasKernels = keras
            let relu = g.add("ReLU", "", [g.conv(0, cin: 16, out: 512, k: 3, pad: 1)])
            let pooled = g.add("Pooling", "pool=MAX;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2", [relu])
            let fc6 = g.add("Convolution", "kernel_h=8;kernel_w=8;stride_h=1;stride_w=1;pad_h=0;pad_w=0;num_output=256;bias_term=1;group=1",
                            [pooled], blobs: [[256, 512, 8, 8], [256]], range: (-0.05, 0.05))
            let fc7 = g.conv(g.add("ReLU", "", [fc6]), cin: 256, out: 32, k: 1)
            let flat = g.add("Flatten", "axis=1", [relu])
            let dense = g.add("InnerProduct", "num_output=64;bias_term=1;axis=1", [flat], blobs: [[64, 512 * 16 * 16], [64]],
                              range: (-0.05, 0.05))
            try g.check(outputs: [fc7, dense])
            let plan = Fixtures.temporaryDirectory.appendingPathComponent("sparse-\(keras).fkplan").path
            let built = try g.run(engine: "onednn", outputs: [fc7, dense], samples: 1, plan: plan)
            XCTAssertTrue(built.summary.contains(" 2 sparse,"), built.summary)
            XCTAssertEqual(try g.runPlan(plan, samples: 1).out, built.out)
        }
    }

    /// YuNet's feature pyramid: a coarse map upsampled (nearest, by 2 and by
    /// 3 across) and added to a finer one.
    func testNearestUpsamplingIntoAnAdd() throws {
        let g = Spec(input: [1, 3, 12, 12])
        let fine = g.conv(0, cin: 3, out: 8, k: 3, pad: 1)
        let coarse = g.add("Pooling", "pool=MAX;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2", [g.conv(fine, cin: 8, out: 8, k: 3, pad: 1)])
        let up = g.add("Resize", "interpolation=nearest;zoom_factor_y=2;zoom_factor_x=2", [coarse])
        let sum = g.add("Eltwise", "operation=sum", [fine, up])
        let wide = g.add("Resize", "interpolation=nearest;zoom_factor_y=1;zoom_factor_x=3", [g.add("ReLU", "", [sum])])
        try g.check(outputs: [wide, sum])
    }

    func testPoolingAsOpenCVCountsItsWindows() throws {
        let g = Spec(input: [1, 4, 11, 9])
        let x = g.conv(0, cin: 4, out: 6, k: 1)
        let pools = [
            "pool=MAX;kernel_h=3;kernel_w=3;stride_h=2;stride_w=2;pad_h=1;pad_w=1",  // ceil_mode defaults to on
            "pool=MAX;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2;pad_t=0;pad_b=1;pad_l=0;pad_r=1;ceil_mode=0",
            "pool=AVE;kernel_h=3;kernel_w=3;stride_h=2;stride_w=2;pad_t=1;pad_b=1;pad_l=0;pad_r=1;ceil_mode=0;ave_pool_padded_area=0",
            "pool=AVE;kernel_h=3;kernel_w=3;stride_h=2;stride_w=2;pad_h=1;pad_w=1;ceil_mode=0",
            "pool=AVE;kernel_h=2;kernel_w=2;stride_h=2;stride_w=2;ceil_mode=1",
            "pool=MAX;kernel_h=3;kernel_w=2;stride_h=3;stride_w=2;pad_t=0;pad_b=1;pad_l=1;pad_r=0;ceil_mode=1",
            // Ceil mode would start a last window in the end padding: dropped.
            "pool=MAX;kernel_h=1;kernel_w=1;stride_h=3;stride_w=2;pad_t=0;pad_b=1;pad_l=0;pad_r=1;ceil_mode=1",
            "pool=AVE;global_pooling=1",
            "pool=MAX;global_pooling=1",
        ]
        let outputs = pools.map { g.add("Pooling", $0, [x]) }
        try g.check(outputs: outputs)
    }

    /// Weights of a megabyte and more load in slices (and free their source
    /// as they go): a grouped convolution, a folded batch norm, a dense layer.
    func testLargeWeightsLoadInSlices() throws {
        let g = Spec(input: [1, 128, 5, 4])
        var x = g.conv(0, cin: 128, out: 512, k: 3, pad: 1)
        x = g.batchNorm(x, 512)
        let grouped = g.conv(x, cin: 512, out: 512, k: 3, group: 2)
        let flat = g.add("Flatten", "axis=1", [grouped])
        let dense = g.add("InnerProduct", "num_output=512;bias_term=1;axis=1", [flat], blobs: [[512, 512 * 3 * 2], [512]])
        try g.check(outputs: [dense, x])
    }

    func testPaddingThatCannotBeFolded() throws {
        let g = Spec(input: [1, 3, 7, 8])
        let padded = g.add("Padding", "paddings=0,0,0,0,1,2,0,3;value=0.5", [0])
        let zero = g.add("Padding", "paddings=0,0,0,0,1,1,1,1;value=0", [0])
        // Read by a convolution and by a max pooling, where zeros count.
        let a = g.conv(zero, cin: 3, out: 4, k: 3)
        let b = g.add("Pooling", "pool=MAX;kernel_h=3;kernel_w=3;stride_h=1;stride_w=1;ceil_mode=0", [zero])
        try g.check(outputs: [padded, a, b])
    }

    func testDenseHeadsFlattenPermuteReshapeAndSoftmax() throws {
        let g = Spec(input: [1, 3, 6, 5])
        let x = g.add("ReLU", "", [g.conv(0, cin: 3, out: 8, k: 3, pad: 1)])
        // Keras' Flatten: channels last first.
        let nhwc = g.add("Permute", "order=0,2,3,1", [x])
        let flat = g.add("Flatten", "axis=1", [nhwc])
        var d = g.add("InnerProduct", "num_output=10;bias_term=1;axis=1", [flat], blobs: [[10, 240], [1, 10]])
        d = g.add("ReLU", "", [g.batchNorm(d, 10)])
        let logits = g.add("InnerProduct", "num_output=7;bias_term=1;axis=1", [d], blobs: [[7, 10], [7]])
        let probabilities = g.add("Softmax", "axis=1", [logits])
        // A dense layer straight on a 4-d tensor (OpenCV flattens NCHW).
        let direct = g.add("InnerProduct", "num_output=5;bias_term=0;axis=1", [x], blobs: [[5, 240]])
        let image = g.add("Reshape", "dim=1,10,1,1", [d])
        let channelSoftmax = g.add("Softmax", "axis=1", [x])
        let unit = g.add("Normalize", "p=2;eps=1e-12;across_spatial=1", [logits])
        // Vectors through Concat and Eltwise; Reshape with copied and inferred dims.
        let joined = g.add("Concat", "axis=1", [d, logits])
        let vsum = g.add("Eltwise", "operation=sum", [d, d])
        let back = g.add("Reshape", "dim=0,-1,1,2", [g.add("Reshape", "dim=0,-1", [x])])
        try g.check(outputs: [probabilities, direct, image, channelSoftmax, unit, nhwc, joined, vsum, back])
    }

    func testSqueezeExcitationConcatAndEltwise() throws {
        let g = Spec(input: [1, 4, 8, 8])
        let x = g.conv(0, cin: 4, out: 8, k: 3, pad: 1)
        // Squeeze and excitation, with the gate as (1, C, 1, 1) and as (1, C).
        let pooled = g.add("Pooling", "pool=AVE;global_pooling=1", [x])
        let gate4 = g.add("Sigmoid", "", [g.conv(pooled, cin: 8, out: 8, k: 1)])
        let se4 = g.add("Scale", "axis=1;bias_term=0", [x, gate4])
        let flat = g.add("Flatten", "axis=1", [pooled])
        let gate2 = g.add("Sigmoid", "", [g.add("InnerProduct", "num_output=8;bias_term=1;axis=1", [flat], blobs: [[8, 8], [8]])])
        let se2 = g.add("Scale", "axis=1;bias_term=0", [x, gate2])
        // GhostFaceNet's ONNX hard sigmoid: x * 1/6, + 0.5, clip to [0, 1]
        // (two linear steps in a row after a convolution).
        let scaled = g.add("Power", "power=1;scale=0.16666667;shift=0", [g.conv(pooled, cin: 8, out: 8, k: 1)])
        let hard = g.add("ReLU6", "min_value=0;max_value=1", [g.add("Power", "power=1;scale=1;shift=0.5", [scaled])])
        let seHard = g.add("Scale", "axis=1;bias_term=0", [x, hard])
        let y = g.conv(x, cin: 8, out: 8, k: 1)
        let cat = g.add("Concat", "axis=1", [se4, se2, y])
        let sum3 = g.add("Eltwise", "operation=sum", [se4, se2, y])
        let weighted = g.add("Eltwise", "operation=sum;coeff=1,-2", [se4, y])
        let prod = g.add("Eltwise", "operation=prod", [se4, se2, y])
        let top = g.add("Eltwise", "operation=max", [se4, se2])
        let positive = g.add("Power", "power=1;scale=1;shift=1.5", [gate4])
        let quotient = g.add("Eltwise", "operation=div", [gate4, positive])
        // A Scale that has no convolution to fold into; PReLU with one slope.
        let affine = g.batchNorm(sum3, 8)
        let leaky = g.add("PReLU", "", [g.add("Identity", "", [flat])], blobs: [[1]], range: (0.1, 0.3))
        let lrn = g.add("LRN", "norm_region=ACROSS_CHANNELS;local_size=5;alpha=0.5;beta=0.75;bias=2;norm_by_size=0", [y])
        let lrnCaffe = g.add("LRN", "norm_region=ACROSS_CHANNELS;local_size=3;alpha=0.3;beta=0.5;bias=1", [y])
        let normalized = g.add("Normalize", "p=2;eps=1e-10;across_spatial=0", [g.add("Dropout", "", [y])])
        try g.check(outputs: [cat, weighted, prod, top, quotient, affine, leaky, lrn, lrnCaffe, normalized, seHard])
    }

    func testALayerOneDNNDoesNotRunKeepsTheGraphOnOpenCV() throws {
        let g = Spec(input: [1, 2, 4, 4])
        let x = g.add("AbsVal", "", [g.conv(0, cin: 2, out: 3, k: 1)])
        let automatic = try g.run(engine: "", outputs: [x], samples: 1)
        XCTAssertEqual(automatic.engine, "opencv")
        XCTAssertEqual(automatic.out, try g.run(engine: "opencv", outputs: [x], samples: 1).out)
        XCTAssertThrowsError(try g.run(engine: "onednn", outputs: [x], samples: 1)) { error in
            XCTAssertTrue("\(error)".contains("AbsVal"), "\(error)")
        }
    }
}
