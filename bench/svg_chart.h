// A line chart written as a self-contained SVG file, so that a benchmark can
// draw its own results without Python or a plotting library.
//
// The one thing to know: it draws what it is given and nothing more; the x
// axis may be logarithmic (then every x must be > 0), the y axis is linear
// from 0, and both ranges grow to fit every series and reference line.
//
//   cf_bench::LineChart chart("Speedup vs. task grain", "grain", "speedup");
//   chart.set_log_x(true);
//   chart.AddSeries("thread pool", {{1, 0.3}, {10, 1.2}, {100, 1.9}});
//   chart.AddReferenceLine(1, "serial");
//   std::string svg = chart.ToSvg();
#ifndef CF_BENCH_SVG_CHART_H_
#define CF_BENCH_SVG_CHART_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace cf_bench {

class LineChart {
 public:
  using Point = std::pair<double, double>;  // x, y

  LineChart(std::string title, std::string x_label, std::string y_label);

  void set_log_x(bool log_x) { log_x_ = log_x; }
  // How x tick values are printed (default: "%g").
  void set_x_tick_format(std::function<std::string(double)> format) {
    x_tick_format_ = std::move(format);
  }
  void set_subtitle(std::string subtitle) { subtitle_ = std::move(subtitle); }

  // One polyline with a marker per point and a legend entry.
  void AddSeries(std::string name, std::vector<Point> points);
  // A dashed horizontal line across the plot, labelled at its right end.
  void AddReferenceLine(double y, std::string label);

  // The whole document, from "<svg" to "</svg>\n".
  std::string ToSvg(int width = 800, int height = 460) const;

 private:
  struct Series {
    std::string name;
    std::vector<Point> points;
  };
  struct Reference {
    double y;
    std::string label;
  };

  std::string title_, subtitle_, x_label_, y_label_;
  bool log_x_ = false;
  std::function<std::string(double)> x_tick_format_;
  std::vector<Series> series_;
  std::vector<Reference> references_;
};

}  // namespace cf_bench

#endif  // CF_BENCH_SVG_CHART_H_
