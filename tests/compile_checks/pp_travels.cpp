// Must compile (the control of the pp_* checks that must not): serializable arguments and results, a user
// type with a serialize() member, a function pointer and a capture-less lambda.
#include <corio/corio.hpp>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

struct Point {
    double x = 0;
    double y = 0;
    template <class Ar>
    void serialize(Ar& ar) {
        ar(x, y);
    }
};

std::vector<std::string> words(std::string text, std::optional<int> limit) {
    std::vector<std::string> out{text};
    if (limit) out.resize(static_cast<std::size_t>(*limit));
    return out;
}

corio::Task<int> call(corio::ProcessPool& pool) {
    std::vector<std::string> w = co_await pool.submit(words, std::string("a b"), std::optional<int>(1));
    Point p = co_await pool.submit([](Point q, std::tuple<int, double> t) { return Point{q.x + std::get<0>(t), q.y}; },
                                   Point{1, 2}, std::tuple<int, double>(3, 4.0));
    co_return static_cast<int>(w.size()) + static_cast<int>(p.x);
}
