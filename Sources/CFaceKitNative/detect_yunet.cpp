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

// The network runs as an fk_graph (oneDNN) on a fixed 640 x 640 canvas:
// deepface never feeds it more, and one size means one plan, where a plan per
// image size would cost ~25 ms of kernel generation each time. The image sits
// in the top-left corner on zeros, and only the anchors of its padded size
// are decoded, as on a network of that size. OpenCV's importer (at the
// padded size) serves when the file does not translate or under
// FACEKIT_ENGINE=opencv.
constexpr int kCanvas = 640;

class YuNetDetector final : public Detector {
    cv::dnn::Net net_;
    std::unique_ptr<fk_graph, void (*)(fk_graph *)> graph_{nullptr, fk_graph_free};
    std::vector<std::string> names_;
    cv::Mat padded_;  // reused between calls
    cv::Mat small_;   // a small image with deepface's border, reused between calls
    std::vector<float> canvas_, outputs_;
    int used_rows_ = 0, used_cols_ = 0;  // the canvas' corner the last image wrote
    std::vector<cv::Mat> outs_;

public:
    explicit YuNetDetector(const std::vector<std::string> &paths) {
        if (paths.empty()) throw Failure(FK_ERR_INVALID_ARGUMENT, "yunet needs its ONNX file");
        for (const char *head : {"cls", "obj", "bbox", "kps"})
            for (int stride : {8, 16, 32}) names_.push_back(std::string(head) + "_" + std::to_string(stride));
        const char *engine = std::getenv("FACEKIT_ENGINE");
        if (!engine || std::string(engine) != "opencv") {
            const int64_t shape[4] = {1, 3, kCanvas, kCanvas};
            fk_graph *graph = nullptr;
            int32_t nhwc = 0;
            fk_error error{};
            // paths[1], when given: the graph's saved plan.
            const char *plan = paths.size() > 1 ? paths[1].c_str() : nullptr;
            if (fk_graph_from_onnx(paths[0].c_str(), shape, 4, plan, &graph, &nhwc, &error) == FK_OK) {
                graph_.reset(graph);
                canvas_.assign(size_t(kCanvas) * kCanvas * 3, 0.f);
                size_t floats = 0;
                for (int stride : {8, 16, 32}) floats += size_t(kCanvas / stride) * (kCanvas / stride) * (1 + 1 + 4 + 10);
                outputs_.resize(floats);
                return;
            }
        }
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
        if (!graph_) {
            cv::copyMakeBorder(img, padded_, 0, ph - img.rows, 0, pw - img.cols, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
            net_.setInput(cv::dnn::blobFromImage(padded_));
            net_.forward(outs_, names_);
            for (int s = 0; s < 3; ++s) grid[s] = pw >> (3 + s);
            for (auto &m : outs_) heads.push_back(m.ptr<float>());
            return heads;
        }
        if (img.type() != CV_8UC3) throw Failure(FK_ERR_INVALID_ARGUMENT, "yunet takes 8-bit BGR images");
        // Channels-last BGR floats, as blobFromImage gives them before its
        // transpose; zeros around, as copyMakeBorder pads. Only what the last
        // image wrote outside this one's corner is cleared again.
        for (int y = 0; y < used_rows_; ++y) {
            float *dst = canvas_.data() + size_t(y) * kCanvas * 3;
            const int from = y < img.rows ? img.cols * 3 : 0;
            if (from < used_cols_ * 3) std::fill(dst + from, dst + used_cols_ * 3, 0.f);
        }
        for (int y = 0; y < img.rows; ++y) {
            const uint8_t *row = img.ptr<uint8_t>(y);
            float *dst = canvas_.data() + size_t(y) * kCanvas * 3;
            for (int x = 0; x < img.cols * 3; ++x) dst[x] = float(row[x]);
        }
        used_rows_ = img.rows;
        used_cols_ = img.cols;
        size_t written = 0;
        fk_error error{};
        if (fk_graph_forward(graph_.get(), canvas_.data(), 1, outputs_.data(), outputs_.size(), &written, &error) != FK_OK)
            throw Failure(FK_ERR_INFERENCE, std::string("yunet: ") + error.message);
        const int width[4] = {1, 1, 4, 10};
        const float *p = outputs_.data();
        for (int h = 0; h < 4; ++h)
            for (int s = 0; s < 3; ++s) {
                heads.push_back(p);
                const int cells = kCanvas >> (3 + s);
                grid[s] = cells;
                p += size_t(cells) * cells * width[h];
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
