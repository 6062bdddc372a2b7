import CFaceKitNative
import Foundation

/// A Keras weight file (.h5 / .hdf5) opened read-only through the bridge's
/// HDF5 reader, in either layout Keras writes (save_weights or a full-model
/// save). Only used while a model loads; not shared between threads.
public final class KerasWeightFile {
    public let path: String
    private let handle: OpaquePointer

    /// Layers that hold weights, in the file's order, with their weight
    /// names in Keras' order (kernel, bias / gamma, beta, moving_mean, ...).
    public let weightedLayers: [(layer: String, weights: [String])]

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw FaceKitError.modelFileInvalid(file: path, reason: "no such file")
        }
        let h: OpaquePointer
        do {
            h = try Native.make { out, err in fk_h5_open(path, out, err) }
        } catch let error as FaceKitError {
            throw Self.invalid(path, error)
        }
        var layers: [(String, [String])] = []
        do {
            for layer in try Self.names({ buf, cap, need, err in fk_h5_layer_names(h, buf, cap, need, err) }) {
                let weights = try Self.names { buf, cap, need, err in fk_h5_weight_names(h, layer, buf, cap, need, err) }
                if !weights.isEmpty { layers.append((layer, weights)) }
            }
        } catch let error as FaceKitError {
            fk_h5_free(h)
            throw Self.invalid(path, error)
        }
        handle = h
        weightedLayers = layers
    }

    deinit { fk_h5_free(handle) }

    public func shape(layer: String, weight: String) throws -> [Int] {
        var dims: Int32 = 0
        var shape = [Int64](repeating: 0, count: 8)
        do {
            try Native.check { err in fk_h5_weight_shape(handle, layer, weight, &shape, &dims, err) }
        } catch let error as FaceKitError {
            throw Self.invalid(path, error)
        }
        return shape.prefix(Int(dims)).map { Int($0) }
    }

    /// Reads a weight after checking its shape against what the architecture
    /// expects; a mismatch names the layer and both shapes.
    public func read(layer: String, weight: String, expecting expected: [Int]) throws -> [Float] {
        let actual = try shape(layer: layer, weight: weight)
        guard actual == expected else {
            throw FaceKitError.modelFileInvalid(
                file: path,
                reason: "layer '\(layer)' weight '\(weight)' has shape \(Self.text(actual)), the architecture expects \(Self.text(expected))")
        }
        var values = [Float](repeating: 0, count: expected.reduce(1, *))
        do {
            try Native.check { err in
                values.withUnsafeMutableBufferPointer { fk_h5_weight_read(handle, layer, weight, $0.baseAddress, $0.count, err) }
            }
        } catch let error as FaceKitError {
            throw Self.invalid(path, error)
        }
        return values
    }

    static func text(_ shape: [Int]) -> String { "(" + shape.map(String.init).joined(separator: ",") + ")" }

    private static func invalid(_ path: String, _ error: FaceKitError) -> FaceKitError {
        switch error {
        case .modelLoadFailed(_, let reason), .io(let reason), .inferenceFailed(let reason), .invalidInput(let reason):
            return .modelFileInvalid(file: path, reason: reason)
        default:
            return error
        }
    }

    private static func names(_ call: (UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>, UnsafeMutablePointer<fk_error>) -> fk_status) throws -> [String] {
        var needed = 0
        try Native.check { err in call(nil, 0, &needed, err) }
        if needed == 0 { return [] }
        var buffer = [CChar](repeating: 0, count: needed)
        try Native.check { err in buffer.withUnsafeMutableBufferPointer { call($0.baseAddress, $0.count, &needed, err) } }
        return buffer.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
