// deepface's "yunet" backend. OpenCV 4.6's FaceDetectorYN only knows the
// 2022mar outputs, so the 2023mar network runs through dnn here and its
// twelve heads (cls, obj, bbox, kps at strides 8, 16, 32) are decoded the way
// OpenCV 4.8+'s FaceDetectorYN decodes them. deepface's own steps around it
// (downscale to 640 at most, integer boxes, eye order) follow.
#include "internal.hpp"

#include <algorithm>
#include <cstdlib>
#include <array>
#include <cmath>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

namespace fk {
namespace {

// The network runs as an fk_graph (oneDNN) on a canvas of a few fixed sizes:
// 640 x 640 (deepface never feeds it more), and 640 x 480 and 480 x 640 for
// the 4:3 and 3:2 photos that are most of what it sees (a 3:2 photo shrunk to
// 640 is 640 x 427, padded to 640 x 448 by FaceDetectorYN): on the dataset
// folder, 22% less of YuNet's arithmetic. A graph per image size would
// generate its kernels again for each new size; a canvas's graph is made
// once, when the canvas is first needed, and the smaller canvases run in the
// 640 x 640 one's activation memory. The image sits in the
// top-left corner of the smallest canvas that holds its padded size, on
// zeros, and only the anchors of that padded size are decoded, as on a
// network of that size (the canvas is that size exactly for a 4:3 photo).
// OpenCV's importer (at the padded size) serves when the file does not
// translate or under FACEKIT_ENGINE=opencv.
constexpr int kCanvases = 3;
constexpr int kCanvasSizes[kCanvases][2] = {{640, 640}, {640, 480}, {480, 640}};  // width, height

class YuNetDetector final : public Detector {
    cv::dnn::Net net_;
    // One per canvas size, the graph made on first use; canvas 0 (640 x 640)
    // at once, so that a file that does not translate falls back to OpenCV.
    struct Canvas {
        int width = 0, height = 0;
        std::string plan;  // its saved plan's path, or empty
        std::unique_ptr<fk_graph, void (*)(fk_graph *)> graph{nullptr, fk_graph_free};
        bool failed = false;  // could not be made: the 640 x 640 canvas serves
        std::vector<float> input, outputs;
        int used_rows = 0, used_cols = 0;  // the corner the last image wrote
    };
    std::string onnx_;
    Canvas canvases_[kCanvases];  // destroyed last to first: the smaller ones borrow from canvas 0
    std::vector<std::string> names_;
    cv::Mat padded_;  // reused between calls
    cv::Mat small_;   // a small image with deepface's border, reused between calls
    std::vector<cv::Mat> outs_;

    bool make_graph(Canvas &c) {
        const int64_t shape[4] = {1, 3, c.height, c.width};
        fk_graph *graph = nullptr;
        int32_t nhwc = 0;
        fk_error error{};
        if (fk_graph_from_onnx_resized(onnx_.c_str(), shape, 4, c.plan.empty() ? nullptr : c.plan.c_str(), &graph, &nhwc, &error) != FK_OK) {
            c.failed = true;
            return false;
        }
        c.graph.reset(graph);
        // A smaller canvas's activations fit in the 640 x 640 one's, and one
        // detector runs one image at a time (~11 MB less per canvas).
        if (&c != &canvases_[0] && canvases_[0].graph) fk_graph_borrow_activations(c.graph.get(), canvases_[0].graph.get());
        c.input.assign(size_t(c.width) * c.height * 3, 0.f);
        size_t floats = 0;
        for (int stride : {8, 16, 32}) floats += size_t(c.width / stride) * (c.height / stride) * (1 + 1 + 4 + 10);
        c.outputs.resize(floats);
        return true;
    }

    // The smallest canvas that holds a pw x ph image and could be made
    // (canvas 0, which holds any, already is).
    Canvas &canvas_for(int pw, int ph) {
        int best = 0;
        for (int i = 1; i < kCanvases; ++i) {
            const Canvas &c = canvases_[i];
            if (c.failed || c.width < pw || c.height < ph) continue;
            if (c.width * c.height < canvases_[best].width * canvases_[best].height) best = i;
        }
        Canvas &c = canvases_[best];
        if (!c.graph && !make_graph(c)) return canvases_[0];
        return c;
    }

public:
    // paths: the ONNX file, then (optionally) one saved plan per canvas size
    // in fk_yunet_canvas order.
    explicit YuNetDetector(const std::vector<std::string> &paths) {
        if (paths.empty()) throw Failure(FK_ERR_INVALID_ARGUMENT, "yunet needs its ONNX file");
        for (const char *head : {"cls", "obj", "bbox", "kps"})
            for (int stride : {8, 16, 32}) names_.push_back(std::string(head) + "_" + std::to_string(stride));
        onnx_ = paths[0];
        for (int i = 0; i < kCanvases; ++i) {
            canvases_[i].width = kCanvasSizes[i][0];
            canvases_[i].height = kCanvasSizes[i][1];
            if (paths.size() == size_t(1 + kCanvases)) canvases_[i].plan = paths[size_t(1 + i)];
        }
        const char *engine = std::getenv("FACEKIT_ENGINE");
        if ((!engine || std::string(engine) != "opencv") && make_graph(canvases_[0])) return;
        try {
            net_ = cv::dnn::readNetFromONNX(paths[0]);
        } catch (const cv::Exception &e) {
            throw Failure(FK_ERR_MODEL_LOAD, "cannot load YuNet " + paths[0] + ": " + e.what());
        }
    }

    // The twelve heads for `img` (at most 640 a side), each a row per anchor
    // of a grid `grid[s]` anchors wide.
    std::vector<const float *> run(const cv::Mat &img, int pw, int ph, int grid[3]) {
        std::vector<const float *> heads;
        if (!canvases_[0].graph) {  // OpenCV's importer
            cv::copyMakeBorder(img, padded_, 0, ph - img.rows, 0, pw - img.cols, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
            net_.setInput(cv::dnn::blobFromImage(padded_));
            net_.forward(outs_, names_);
            for (int s = 0; s < 3; ++s) grid[s] = pw >> (3 + s);
            for (auto &m : outs_) heads.push_back(m.ptr<float>());
            return heads;
        }
        if (img.type() != CV_8UC3) throw Failure(FK_ERR_INVALID_ARGUMENT, "yunet takes 8-bit BGR images");
        Canvas &c = canvas_for(pw, ph);
        // Channels-last BGR floats, as blobFromImage gives them before its
        // transpose; zeros around, as copyMakeBorder pads. Only what the last
        // image wrote outside this one's corner is cleared again.
        const size_t row_floats = size_t(c.width) * 3;
        for (int y = 0; y < c.used_rows; ++y) {
            float *dst = c.input.data() + size_t(y) * row_floats;
            const int from = y < img.rows ? img.cols * 3 : 0;
            if (from < c.used_cols * 3) std::fill(dst + from, dst + c.used_cols * 3, 0.f);
        }
        for (int y = 0; y < img.rows; ++y) {
            const uint8_t *row = img.ptr<uint8_t>(y);
            float *dst = c.input.data() + size_t(y) * row_floats;
            for (int x = 0; x < img.cols * 3; ++x) dst[x] = float(row[x]);
        }
        c.used_rows = img.rows;
        c.used_cols = img.cols;
        size_t written = 0;
        fk_error error{};
        if (fk_graph_forward(c.graph.get(), c.input.data(), 1, c.outputs.data(), c.outputs.size(), &written, &error) != FK_OK)
            throw Failure(FK_ERR_INFERENCE, std::string("yunet: ") + error.message);
        const int width[4] = {1, 1, 4, 10};
        const float *p = c.outputs.data();
        for (int h = 0; h < 4; ++h)
            for (int s = 0; s < 3; ++s) {
                heads.push_back(p);
                const int cols = c.width >> (3 + s), rows = c.height >> (3 + s);
                grid[s] = cols;
                p += size_t(cols) * rows * width[h];
            }
        return heads;
    }

    std::vector<Face> detect(const cv::Mat &input, float threshold) override {
        cv::Mat img = input;
        double r = 1.0;
        bool resized = false;
        if (img.rows > 640 || img.cols > 640) {
            r = 640.0 / std::max(img.rows, img.cols);
            cv::resize(input, img, cv::Size(int(input.cols * r), int(input.rows * r)));
            resized = true;
        }
        return detect_resized(img, r, resized, threshold);
    }

    // deepface pads each image by half its size before detecting, and YuNet
    // shrinks the padded image to 640 at most: done from the interior, the
    // border is never written, read or resized (fk::padded_resize).
    bool detect_padded(const cv::Mat &interior, int pad_y, int pad_x, float threshold, std::vector<Face> &faces) override {
        const int rows = interior.rows + 2 * pad_y, cols = interior.cols + 2 * pad_x;
        if (rows <= 640 && cols <= 640) {  // not resized: padded here, in a buffer kept for the next image
            small_.create(rows, cols, CV_8UC3);
            small_.setTo(cv::Scalar::all(0));
            interior.copyTo(small_(cv::Rect(pad_x, pad_y, interior.cols, interior.rows)));
            faces = detect_resized(small_, 1.0, false, threshold);
            return true;
        }
        const double r = 640.0 / std::max(rows, cols);
        cv::Mat img;
        if (!padded_resize(interior, pad_y, pad_x, int(cols * r), int(rows * r), img)) return false;
        faces = detect_resized(img, r, true, threshold);
        return true;
    }

    std::vector<Face> detect_resized(const cv::Mat &img, double r, bool resized, float threshold) {
        if (threshold < 0) threshold = 0.9f;
        const float nms_threshold = 0.3f;
        const int top_k = 5000;
        const int W = img.cols, H = img.rows;
        const int pw = ((W - 1) / 32 + 1) * 32, ph = ((H - 1) / 32 + 1) * 32;
        int grid[3];
        const std::vector<const float *> outs = run(img, pw, ph, grid);

        std::vector<cv::Rect2i> boxes;
        std::vector<float> scores;
        std::vector<std::array<float, 15>> rows;
        const int strides[3] = {8, 16, 32};
        for (int s = 0; s < 3; ++s) {
            const int stride = strides[s], cols = pw / stride, nrows = ph / stride;
            const float *cls = outs[s], *obj = outs[s + 3], *bbox = outs[s + 6], *kps = outs[s + 9];
            for (int rr = 0; rr < nrows; ++rr)
                for (int c = 0; c < cols; ++c) {
                    const int idx = rr * grid[s] + c;
                    float cs = std::clamp(cls[idx], 0.f, 1.f), os = std::clamp(obj[idx], 0.f, 1.f);
                    float score = std::sqrt(cs * os);
                    if (score < threshold) continue;  // NMSBoxes drops these anyway
                    float cx = (c + bbox[idx * 4 + 0]) * stride, cy = (rr + bbox[idx * 4 + 1]) * stride;
                    float w = std::exp(bbox[idx * 4 + 2]) * stride, h = std::exp(bbox[idx * 4 + 3]) * stride;
                    std::array<float, 15> row;
                    row[0] = cx - w / 2; row[1] = cy - h / 2; row[2] = w; row[3] = h;
                    for (int n = 0; n < 5; ++n) {
                        row[4 + 2 * n] = (kps[idx * 10 + 2 * n] + c) * stride;
                        row[5 + 2 * n] = (kps[idx * 10 + 2 * n + 1] + rr) * stride;
                    }
                    row[14] = score;
                    boxes.emplace_back(int(row[0]), int(row[1]), int(row[2]), int(row[3]));
                    scores.push_back(score);
                    rows.push_back(row);
                }
        }
        std::vector<int> keep;
        cv::dnn::NMSBoxes(boxes, scores, threshold, nms_threshold, keep, 1.f, top_k);

        std::vector<Face> faces;
        for (int k : keep) {
            const auto &f = rows[k];
            // deepface: ints first, clamp x and y at 0, then undo the resize.
            int x = std::max(int(f[0]), 0), y = std::max(int(f[1]), 0), w = int(f[2]), h = int(f[3]);
            int re_x = int(f[4]), re_y = int(f[5]), le_x = int(f[6]), le_y = int(f[7]);
            if (resized) {
                x = int(x / r); y = int(y / r); w = int(w / r); h = int(h / r);
                re_x = int(re_x / r); re_y = int(re_y / r); le_x = int(le_x / r); le_y = int(le_y / r);
            }
            Face out;
            out.x = float(x); out.y = float(y); out.w = float(w); out.h = float(h);
            out.confidence = f[14];
            // YuNet's first eye is the one on the image's left: the person's right.
            out.set_landmark(FK_LM_RIGHT_EYE, float(re_x), float(re_y));
            out.set_landmark(FK_LM_LEFT_EYE, float(le_x), float(le_y));
            // deepface keeps only the eyes; the rest (unscaled floats) serve
            // the 5-point alignment.
            double inv = 1.0 / r;
            out.set_landmark(FK_LM_NOSE, float(f[8] * inv), float(f[9] * inv));
            out.set_landmark(FK_LM_MOUTH_RIGHT, float(f[10] * inv), float(f[11] * inv));
            out.set_landmark(FK_LM_MOUTH_LEFT, float(f[12] * inv), float(f[13] * inv));
            faces.push_back(out);
        }
        return faces;
    }
};

}  // namespace

std::unique_ptr<Detector> make_yunet_detector(const std::vector<std::string> &paths) {
    return std::make_unique<YuNetDetector>(paths);
}

}  // namespace fk

extern "C" int32_t fk_yunet_canvas(int32_t index, int32_t *width, int32_t *height) {
    if (index < 0 || index >= fk::kCanvases) return 0;
    *width = fk::kCanvasSizes[index][0];
    *height = fk::kCanvasSizes[index][1];
    return 1;
}
