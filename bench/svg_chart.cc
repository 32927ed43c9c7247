// LineChart's drawing: plain SVG text, one element per line so that the file
// diffs and greps well.
#include "bench/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace cf_bench {
namespace {

// Colour-blind-safe (Okabe-Ito), in the order series are added.
constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73",
                                    "#CC79A7", "#E69F00", "#56B4E9"};

std::string Escape(const std::string& text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"},
                                    {"<", "&lt;"},
                                    {">", "&gt;"},
                                    {"\"", "&quot;"}});
}

// A tick step of 1, 2, 2.5 or 5 times a power of ten giving at most ~6 ticks.
double NiceStep(double span) {
  const double raw = span / 6;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0}) {
    if (m * magnitude >= raw) return m * magnitude;
  }
  return 10 * magnitude;
}

}  // namespace

LineChart::LineChart(std::string title, std::string x_label,
                     std::string y_label)
    : title_(std::move(title)),
      x_label_(std::move(x_label)),
      y_label_(std::move(y_label)),
      x_tick_format_([](double x) { return absl::StrFormat("%g", x); }) {}

void LineChart::AddSeries(std::string name, std::vector<Point> points) {
  series_.push_back({std::move(name), std::move(points)});
}

void LineChart::AddReferenceLine(double y, std::string label) {
  references_.push_back({y, std::move(label)});
}

std::string LineChart::ToSvg(int width, int height) const {
  // Data ranges. Log x snaps to whole decades so that ticks land on edges.
  double x_min = INFINITY, x_max = -INFINITY, y_max = 0;
  for (const Series& s : series_) {
    for (const auto& [x, y] : s.points) {
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_max = std::max(y_max, y);
    }
  }
  for (const Reference& r : references_) y_max = std::max(y_max, r.y);
  if (!(x_min <= x_max)) x_min = 1, x_max = 10;  // no points at all
  auto to_axis = [this](double x) { return log_x_ ? std::log10(x) : x; };
  double a_min = to_axis(x_min), a_max = to_axis(x_max);
  if (log_x_) a_min = std::floor(a_min), a_max = std::ceil(a_max);
  if (a_max <= a_min) a_max = a_min + 1;
  if (y_max <= 0) y_max = 1;
  const double y_step = NiceStep(y_max * 1.1);
  const double y_top = std::ceil(y_max * 1.1 / y_step) * y_step;

  // Plot area, leaving room for the title, axis labels and the legend.
  const double left = 70, top = 60, right = width - 200.0,
               bottom = height - 60.0;
  auto px = [&](double x) {
    return left + (to_axis(x) - a_min) / (a_max - a_min) * (right - left);
  };
  auto py = [&](double y) { return bottom - y / y_top * (bottom - top); };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
      width, height, width, height);
  absl::StrAppendFormat(&svg,
                        "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
                        width, height);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" "
                        "font-size=\"16\" font-weight=\"bold\">%s</text>\n",
                        width / 2, Escape(title_));
  if (!subtitle_.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"%d\" y=\"42\" text-anchor=\"middle\" "
                          "fill=\"#555\">%s</text>\n",
                          width / 2, Escape(subtitle_));
  }

  // Grid and ticks: y every step, x every decade (log) or nice step.
  for (double y = 0; y <= y_top + y_step / 2; y += y_step) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
        "stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
        left, py(y), right, py(y), left - 6, py(y) + 4, y);
  }
  std::vector<double> x_ticks;
  if (log_x_) {
    for (double e = a_min; e <= a_max + 0.5; ++e) x_ticks.push_back(std::pow(10, e));
  } else {
    const double step = NiceStep(a_max - a_min);
    for (double x = std::ceil(a_min / step) * step; x <= a_max + step / 2;
         x += step) {
      x_ticks.push_back(x);
    }
  }
  for (double x : x_ticks) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
        "stroke=\"#ddd\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
        px(x), top, px(x), bottom, px(x), bottom + 18,
        Escape(x_tick_format_(x)));
  }
  absl::StrAppendFormat(
      &svg,
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
      "fill=\"none\" stroke=\"#333\"/>\n",
      left, top, right - left, bottom - top);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" "
                        "text-anchor=\"middle\">%s</text>\n",
                        (left + right) / 2, bottom + 42, Escape(x_label_));
  absl::StrAppendFormat(&svg,
                        "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 18 %.1f)\">%s</text>\n",
                        (top + bottom) / 2, (top + bottom) / 2,
                        Escape(y_label_));

  // Labelled above the line at the left, where speedup curves start low.
  for (const Reference& r : references_) {
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
        "stroke=\"#666\" stroke-dasharray=\"6 4\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\" fill=\"#444\">%s</text>\n",
        left, py(r.y), right, py(r.y), left + 6, py(r.y) - 5,
        Escape(r.label));
  }

  // Series, each with its legend entry in the right margin (reference lines
  // are labelled inside the plot, so the two never collide).
  for (std::size_t i = 0; i < series_.size(); ++i) {
    const Series& s = series_[i];
    const char* color = kPalette[i % std::size(kPalette)];
    std::string points;
    for (const auto& [x, y] : s.points) {
      absl::StrAppendFormat(&points, "%s%.1f,%.1f", points.empty() ? "" : " ",
                            px(x), py(y));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\" points=\"%s\"/>\n",
                          color, points);
    for (const auto& [x, y] : s.points) {
      absl::StrAppendFormat(
          &svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
          px(x), py(y), color);
    }
    const double ly = top + 10 + 20.0 * i;
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
        "stroke-width=\"2\"/>\n"
        "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
        right + 10, ly, right + 34, ly, color, right + 40, ly + 4,
        Escape(s.name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace cf_bench
