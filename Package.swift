// swift-tools-version:6.0
import PackageDescription

// OpenCV modules the bridge uses, and nothing more (linking all of OpenCV
// pulls in ~380 shared objects and slows every process start). Not
// opencv_imgcodecs: on Debian it drags in GDAL and ~130 more libraries
// (~40 MB resident), so codecs.cpp calls the image libraries directly (jpeg,
// png and z come with dlib's list below).
let openCVModules = ["opencv_core", "opencv_imgproc", "opencv_objdetect", "opencv_dnn"]
let imageLibraries = ["webp", "tiff"]
// dlib's pkg-config file names BLAS/LAPACK by absolute path, which SwiftPM
// drops, so the libraries are listed by name. libblas resolves to OpenBLAS
// through Debian's alternatives when libopenblas0-pthread is installed.
let dlibLibraries = ["dlib", "blas", "lapack", "jpeg", "png", "z", "sqlite3", "pthread"]
// faiss (Debian's libfaiss-dev 1.7.3) is a static C++ library with OpenMP
// inside; the embedded store's ANN index.
let faissLibraries = ["faiss", "gomp"]
// oneDNN 2.6 (Debian's libdnnl-dev, OpenMP build): the layer graphs'
// engine, whose convolutions are 2.5-3.5x faster than OpenCV 4.6's.
let oneDNNLibraries = ["dnnl"]

let package = Package(
    name: "FaceKit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "FaceKit", targets: ["FaceKit"]),
        .library(name: "FaceKitServer", targets: ["FaceKitServer"]),
        .library(name: "FaceKitStore", targets: ["FaceKitStore"]),
        .executable(name: "facekit", targets: ["facekit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Already in the graph through Hummingbird; named here for the
        // server's image-URL fetcher, which connects to the address it checked.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.2"),
    ],
    targets: [
        .target(
            name: "CFaceKitNative",
            path: "Sources/CFaceKitNative",
            cxxSettings: [
                // faiss' headers include omp.h, which only GCC ships here
                // (after clang's own headers, so its intrinsics still win).
                // Keras .h5: HDF5 1.10's headers (libhdf5-dev); h5.cpp opens
                // libhdf5_serial.so.103 on first use instead of linking it.
                .unsafeFlags(["-I/usr/include/opencv4", "-idirafter", "/usr/lib/gcc/x86_64-linux-gnu/12/include",
                              "-I/usr/include/hdf5/serial", "-O2", "-fexceptions", "-Wno-deprecated-declarations"]),
                .define("DLIB_NO_GUI_SUPPORT"),
            ],
            linkerSettings: (openCVModules + oneDNNLibraries + faissLibraries + dlibLibraries + imageLibraries + ["crypto", "dl"]).map { .linkedLibrary($0) }
        ),
        .target(
            name: "FaceKit",
            dependencies: ["CFaceKitNative"],
            path: "Sources/FaceKit",
            // Fetch-time conversion scripts (Python, PyPI route only).
            resources: [.copy("Models/Conversion")]
        ),
        .target(
            name: "FaceKitServer",
            dependencies: [
                "FaceKit",
                "FaceKitStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/FaceKitServer"
        ),
        // libpq's declarations, for the PostgreSQL store (Debian's libpq-dev);
        // the library itself is opened on first use (see its shim.h).
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", providers: [.apt(["libpq-dev"])]),
        // Face databases (find, register, search) live apart from the core
        // library, so that FaceKit itself needs no SQLite or libpq.
        .target(
            name: "FaceKitStore",
            dependencies: [
                "FaceKit",
                "CFaceKitNative",
                "CLibPQ",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Sources/FaceKitStore"
        ),
        .executableTarget(
            name: "facekit",
            dependencies: [
                "FaceKit",
                "FaceKitServer",
                "FaceKitStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/facekit"
        ),
        .testTarget(
            name: "FaceKitTests",
            dependencies: ["FaceKit"],
            path: "Tests/FaceKitTests"
        ),
        .testTarget(
            name: "FaceKitCLITests",
            dependencies: ["FaceKit"],
            path: "Tests/FaceKitCLITests"
        ),
        .testTarget(
            name: "FaceKitStoreTests",
            dependencies: ["FaceKitStore"],
            path: "Tests/FaceKitStoreTests"
        ),
        .testTarget(
            name: "FaceKitServerTests",
            dependencies: [
                "FaceKitServer",
                "FaceKitStore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/FaceKitServerTests"
        ),
    ],
    cxxLanguageStandard: .cxx17
)
