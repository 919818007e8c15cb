// The training loops of the hand-written engines, in C++:
//   Network              one FCNN's or DANN's steps (neurotype.models.fused: StackedNetwork.forward/backward,
//                        FusedOptimizer.step and the step loop of _train_members) for one member (K = 1,
//                        the passes on 2-D rows); stacks of members stay in Python;
//   dropout_multipliers  an epoch's dropout draws (fused.dropout_draws, keep_mask, dropout_multiplier);
//   Lspin                LSPIN's full-batch epochs (neurotype.models.lspin.train_full_batch_sgd), any K.
//
// The Python loops spend up to a third of a small network's step in the interpreter: the binding of each
// ATen call and their own bookkeeping. This file makes the very same ATen calls, with the same arguments
// and in the same order, so a network trained here is the Python loops' network bit for bit
// (tests/models/test_native.py trains both ways). Functions that run a loop release the GIL.
//
// Built and loaded by neurotype.models.native; nothing else includes it.

#include <ATen/CPUGeneratorImpl.h>
#include <torch/extension.h>

#include <array>
#include <mutex>
#include <vector>

namespace {

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

enum Activation : int64_t { kNone = 0, kRelu = 1, kSelu = 2, kSwish = 3 };
enum Optimizer : int64_t { kAdam = 0, kSgd = 1, kRmsprop = 2 };

// One member's batch normalisation: what neurotype.models.base.batch_norm_members holds per member.
struct Norm {
  at::Tensor weight, bias, running_mean, running_var, grad_weight, grad_bias;
  double momentum, eps;

  // base.batch_norm_members (training) for one member's rows: the output; `mean`, `invstd` for backward
  at::Tensor forward(const at::Tensor& rows, at::Tensor& mean, at::Tensor& invstd) {
    auto out = at::native_batch_norm(rows, weight, bias, running_mean, running_var, true, momentum, eps);
    mean = std::get<1>(out);
    invstd = std::get<2>(out);
    return std::get<0>(out);
  }

  // base.batch_norm_members_backward: the input gradient; the weight and bias gradients into their buffers
  at::Tensor backward(const at::Tensor& grad, const at::Tensor& rows, const at::Tensor& mean,
                      const at::Tensor& invstd) {
    at::Tensor grad_input = at::empty_like(rows);
    at::native_batch_norm_backward_out(grad_input, grad_weight, grad_bias, grad, rows, weight, running_mean,
                                       running_var, mean, invstd, true, eps, {true, true, true});
    return grad_input;
  }
};

struct Layer {
  at::Tensor weight, weight_t, bias, grad_weight, grad_bias;  // (out, in), (in, out), (out,), ...
  int64_t activation;
  bool dropout;
  bool has_norm = false;
  Norm norm;
};

// A Python number as the bindings pass it to a binary operator: a 0-dim double tensor marked as a
// wrapped number (it takes part in type promotion as a scalar).
at::Tensor wrapped_scalar(double value) {
  at::Tensor tensor = c10::scalar_to_tensor(at::Scalar(value));
  tensor.unsafeGetTensorImpl()->set_wrapped_number(true);
  return tensor;
}

struct Saved {
  at::Tensor x, pre, activated, mask, norm_input, mean, invstd;
};

class Part {
 public:
  std::vector<Layer> layers;

  // StackedNetwork.forward on one member's 2-D rows; `noise` holds one (mask, shift) per dropout layer.
  at::Tensor forward(at::Tensor x, const std::vector<at::Tensor>* masks,
                     const std::vector<c10::optional<at::Tensor>>* shifts, std::vector<Saved>& saved) {
    size_t dropped = 0;
    for (Layer& layer : layers) {
      Saved s;
      s.x = x;
      at::Tensor pre = at::addmm(layer.bias, x, layer.weight_t);
      if (layer.has_norm) {
        s.norm_input = pre;
        pre = layer.norm.forward(pre, s.mean, s.invstd);
      }
      at::Tensor out;
      switch (layer.activation) {
        case kNone: out = pre; break;
        case kRelu: out = at::relu(pre); break;
        case kSelu: out = at::selu(pre); break;
        case kSwish: out = at::silu(pre); break;
        default: TORCH_CHECK(false, "unknown activation code ", layer.activation);
      }
      s.pre = pre;
      s.activated = out;
      if (layer.dropout && masks != nullptr) {
        const at::Tensor& mask = (*masks)[dropped];
        const c10::optional<at::Tensor>& shift = (*shifts)[dropped];
        ++dropped;
        out = at::mul(out, mask);
        if (shift.has_value()) out.add_(*shift);  // alpha dropout: out * a_mask + b
        s.mask = mask;
      }
      saved.push_back(std::move(s));
      x = out;
    }
    return x;
  }

  // StackedNetwork.backward: parameter gradients into their buffers; the input gradient (into `out`
  // if defined) when `input_grad`.
  at::Tensor backward(at::Tensor grad, const std::vector<Saved>& saved, bool input_grad, at::Tensor out) {
    for (int64_t i = static_cast<int64_t>(layers.size()) - 1; i >= 0; --i) {
      Layer& layer = layers[i];
      const Saved& s = saved[i];
      if (s.mask.defined()) grad = at::mul(grad, s.mask);
      switch (layer.activation) {
        case kRelu: grad = at::threshold_backward(grad, s.activated, 0); break;
        case kSelu: grad = at::elu_backward(grad, kSeluAlpha, kSeluScale, 1.0, false, s.pre); break;
        case kSwish: grad = at::silu_backward(grad, s.pre); break;
        default: break;
      }
      if (layer.has_norm) grad = layer.norm.backward(grad, s.norm_input, s.mean, s.invstd);
      at::mm_out(layer.grad_weight, grad.t(), s.x);
      at::sum_out(layer.grad_bias, grad, {0});
      if (i > 0 || input_grad) {
        if (i == 0 && out.defined()) {
          at::mm_out(out, grad, layer.weight);
          grad = out;
        } else {
          grad = at::mm(grad, layer.weight);
        }
      }
    }
    return grad;
  }
};

class Network {
 public:
  Part trunk, label, domain;
  bool has_domain = false;
  int64_t half = 0;
  at::Tensor domain_target;  // (2 half, 1): zeros for the source rows, ones for the target rows
  // optimiser
  int64_t optimizer = kAdam;
  double lr = 0.0, weight_decay = 0.0;
  std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;  // Adam: each parameter's views
  at::Tensor step_count, rows, grad_rows, square_avg;  // Adam's step; SGD/RMSprop: the (1, P) rows

  void add_layer(const std::string& part, at::Tensor weight, at::Tensor bias, at::Tensor grad_weight,
                 at::Tensor grad_bias, int64_t activation, bool dropout, c10::optional<std::vector<at::Tensor>> norm,
                 double momentum, double eps) {
    Layer layer{weight, weight.t(), bias, grad_weight, grad_bias, activation, dropout};
    if (norm.has_value()) {
      const auto& t = *norm;
      TORCH_CHECK(t.size() == 6, "batch normalisation needs 6 tensors");
      layer.has_norm = true;
      layer.norm = Norm{t[0], t[1], t[2], t[3], t[4], t[5], momentum, eps};
    }
    part_named(part).layers.push_back(std::move(layer));
  }

  void set_domain(int64_t half_, at::Tensor target) {
    has_domain = true;
    half = half_;
    domain_target = target;
  }

  void set_adam(std::vector<at::Tensor> params_, std::vector<at::Tensor> grads_, std::vector<at::Tensor> exp_avgs_,
                std::vector<at::Tensor> exp_avg_sqs_, at::Tensor step, double lr_, double weight_decay_) {
    optimizer = kAdam;
    params = std::move(params_);
    grads = std::move(grads_);
    exp_avgs = std::move(exp_avgs_);
    exp_avg_sqs = std::move(exp_avg_sqs_);
    step_count = step;
    steps.assign(params.size(), step);  // torch.optim.Adam(fused=True) keeps a step per parameter
    lr = lr_;
    weight_decay = weight_decay_;
  }

  void set_rows_optimizer(int64_t code, at::Tensor rows_, at::Tensor grad_rows_, c10::optional<at::Tensor> square,
                          double lr_, double weight_decay_) {
    optimizer = code;
    rows = rows_;
    grad_rows = grad_rows_;
    if (square.has_value()) square_avg = *square;
    lr = lr_;
    weight_decay = weight_decay_;
  }

  // The steps of one epoch (fused._train_members' inner loop, K = 1).
  void epoch(const std::vector<at::Tensor>& xs, const std::vector<std::vector<at::Tensor>>& masks,
             const std::vector<std::vector<c10::optional<at::Tensor>>>& shifts,
             const std::vector<at::Tensor>& grad_log_probs,
             const std::vector<int64_t>& batch_rows, const std::vector<double>& lambdas,
             const std::vector<at::Tensor>& grad_buffers) {
    const bool noisy = !masks.empty();
    for (size_t s = 0; s < xs.size(); ++s) {
      const int64_t nb = batch_rows[s];
      std::vector<Saved> saved_trunk, saved_label;
      at::Tensor embedding = trunk.forward(xs[s], noisy ? &masks[s] : nullptr, noisy ? &shifts[s] : nullptr,
                                           saved_trunk);
      at::Tensor logits = label.forward(has_domain ? embedding.slice(0, 0, nb) : embedding, nullptr, nullptr,
                                        saved_label);
      at::Tensor log_probs = at::log_softmax(logits, -1);
      at::Tensor grad_logits = at::_log_softmax_backward_data(grad_log_probs[s], log_probs, -1, at::kFloat);
      at::Tensor grad_embedding;
      if (!has_domain) {
        grad_embedding = label.backward(grad_logits, saved_label, true, at::Tensor());
      } else {
        grad_embedding = grad_buffers[s];
        label.backward(grad_logits, saved_label, true, grad_embedding.slice(0, 0, nb));
        std::vector<Saved> saved_domain;
        at::Tensor domain_logits = domain.forward(embedding.slice(0, nb), nullptr, nullptr, saved_domain);
        // BCE-with-logits' backward (mean): (sigmoid - target) / numel
        at::Tensor grad_domain = at::sub(at::sigmoid(domain_logits), domain_target).div_(at::Scalar(2 * half));
        at::Tensor grad_reversed = domain.backward(grad_domain, saved_domain, true, at::Tensor());
        // the reversal layer: -lambda times the gradient
        at::Tensor out = grad_embedding.slice(0, nb);
        at::mul_out(out, grad_reversed, wrapped_scalar(-lambdas[s]));
      }
      trunk.backward(grad_embedding, saved_trunk, false, at::Tensor());
      step();
    }
  }

 private:
  Part& part_named(const std::string& name) {
    if (name == "trunk") return trunk;
    if (name == "label") return label;
    if (name == "domain") return domain;
    TORCH_CHECK(false, "unknown part ", name);
  }

  // FusedOptimizer.step for one member.
  void step() {
    if (optimizer == kAdam) {
      step_count.add_(1);
      at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, {}, steps, lr, 0.9, 0.999, weight_decay, 1e-8, false,
                       false, c10::nullopt, c10::nullopt);
      return;
    }
    at::Tensor grad = grad_rows;
    if (weight_decay != 0) grad = grad.add(rows, weight_decay);
    if (optimizer == kSgd) {
      rows.add_(grad, -lr);
    } else {
      const double alpha = 0.99, eps = 1e-8;
      square_avg.mul_(alpha).addcmul_(grad, grad, 1 - alpha);
      rows.addcdiv_(grad, square_avg.sqrt().add_(eps), -lr);
    }
  }
};

// fused.dropout_draws + keep_mask (+ dropout_multiplier for plain dropout) in one pass: per member,
// `count` draws of its generator, each `random64() % 2**63` as Tensor.random_ makes an int64 (its kernel
// takes one random64() per element, ATen/core/DistributionsHelper.h), kept when
// its low 53 bits are below `threshold` (bernoulli_'s test); 1 / (1 - drop) for a kept unit of plain
// dropout (ATen's float division of 1 by the float of 1 - drop), 1 for a kept unit otherwise, 0 dropped.
at::Tensor dropout_multipliers(const std::vector<at::Generator>& generators, int64_t count, int64_t threshold,
                               double drop, bool plain) {
  constexpr uint64_t kMask53 = (uint64_t{1} << 53) - 1;
  const auto members = static_cast<int64_t>(generators.size());
  at::Tensor out = at::empty({members, count}, at::kFloat);
  const float kept = plain ? 1.0f / static_cast<float>(1.0 - drop) : 1.0f;
  const auto limit = static_cast<uint64_t>(threshold);
  for (int64_t k = 0; k < members; ++k) {
    auto* generator = at::check_generator<at::CPUGeneratorImpl>(generators[k]);
    std::lock_guard<std::mutex> lock(generator->mutex_);
    // the generator's Mersenne Twister, advanced here with its inline operator() and handed back:
    // CPUGeneratorImpl::random64() is two of its 32-bit draws, the first the high half
    at::mt19937 engine = generator->engine();
    float* values = out[k].data_ptr<float>();
    for (int64_t i = 0; i < count; ++i) {
      const uint64_t high = engine(), low = engine();
      const uint64_t draw = ((high << 32) | low) % (uint64_t{1} << 63);
      values[i] = (draw & kMask53) < limit ? kept : 0.0f;
    }
    generator->set_engine(engine);
  }
  return out;
}

// neurotype.models.lspin.train_full_batch_sgd's epochs: K LSPINs on the same rows, full-batch SGD. The
// calls of its Python loop, in its order; the double constants (penalty and density scales, the kernel
// term's weight) come computed from Python, so that they are the same numbers.
class Lspin {
 public:
  Lspin(at::Tensor x, at::Tensor x_t, at::Tensor onehot, at::Tensor row_coef, at::Tensor noise,
        std::vector<at::Tensor> gate_w, std::vector<at::Tensor> gate_b, std::vector<at::Tensor> pred_w,
        std::vector<at::Tensor> pred_b, std::vector<at::Tensor> norms, std::vector<at::Tensor> norm_grads,
        std::vector<at::Tensor> norm_members, double momentum, double eps, std::vector<at::Generator> generators,
        double sigma, bool tanh, c10::optional<at::Tensor> kernel, c10::optional<at::Tensor> degree,
        double kernel_alpha, double penalty_coef, double density_scale, double lr, double weight_decay)
      : x_(x), x_t_(x_t), onehot_(onehot), row_coef_(row_coef), noise_(noise), gate_w_(gate_w), gate_b_(gate_b),
        pred_w_(pred_w), pred_b_(pred_b), generators_(generators), sigma_(sigma), tanh_(tanh), kernel_(kernel), degree_(degree),
        kernel_alpha_(kernel_alpha), penalty_coef_(penalty_coef), density_scale_(density_scale), lr_(lr),
        weight_decay_(weight_decay) {
    // params = gate_w + gate_b + pred_w + pred_b + bn_w + bn_b, in the Python loop's order
    for (auto* list : {&gate_w_, &gate_b_, &pred_w_, &pred_b_}) params_.insert(params_.end(), list->begin(), list->end());
    params_.insert(params_.end(), norms.begin(), norms.end());
    norm_grads_ = norm_grads;
    members_ = static_cast<int64_t>(generators_.size());
    // norm_members: (layer, member, six tensors), flattened in that order
    TORCH_CHECK(norm_members.size() % (6 * members_) == 0, "batch normalisation needs 6 tensors per member");
    for (size_t i = 0; i < norm_members.size(); i += 6) {
      const auto* t = &norm_members[i];
      norms_.push_back(Norm{t[0], t[1], t[2], t[3], t[4], t[5], momentum, eps});
    }
    layers_norm_ = static_cast<int64_t>(norms_.size()) / members_;
  }

  void run(int64_t epochs) {
    for (int64_t e = 0; e < epochs; ++e) epoch();
  }

 private:
  at::Tensor x_, x_t_, onehot_, row_coef_, noise_;
  std::vector<at::Tensor> gate_w_, gate_b_, pred_w_, pred_b_, norm_grads_, params_;
  std::vector<Norm> norms_;  // (layer, member)
  std::vector<at::Generator> generators_;
  double sigma_;
  bool tanh_;
  c10::optional<at::Tensor> kernel_, degree_;
  double kernel_alpha_, penalty_coef_, density_scale_, lr_, weight_decay_;
  int64_t members_ = 1, layers_norm_ = 0;

  Norm& norm(int64_t layer, int64_t k) { return norms_[layer * members_ + k]; }

  at::Tensor stacked(const std::vector<at::Tensor>& parts) const {
    return members_ == 1 ? parts[0].unsqueeze(0) : at::stack(parts);
  }

  at::Tensor batch_norm(int64_t i, const at::Tensor& a, std::vector<std::array<at::Tensor, 3>>& caches) {
    std::vector<at::Tensor> outs;
    for (int64_t k = 0; k < members_; ++k) {
      std::array<at::Tensor, 3> cache{a[k]};
      outs.push_back(norm(i, k).forward(cache[0], cache[1], cache[2]));
      caches.push_back(cache);
    }
    return stacked(outs);
  }

  at::Tensor batch_norm_backward(int64_t i, const at::Tensor& grad, const std::vector<std::array<at::Tensor, 3>>& caches) {
    std::vector<at::Tensor> inputs;
    for (int64_t k = 0; k < members_; ++k) {
      const auto& cache = caches[k];
      inputs.push_back(norm(i, k).backward(grad[k], cache[0], cache[1], cache[2]));
    }
    return stacked(inputs);
  }

  void epoch() {
    const auto gates = static_cast<int64_t>(gate_w_.size()), layers = static_cast<int64_t>(pred_w_.size());
    // forward: gating network (tanh throughout)
    std::vector<at::Tensor> gate_acts{x_};
    for (int64_t i = 0; i < gates; ++i) gate_acts.push_back(at::bmm(gate_acts.back(), gate_w_[i]).add_(gate_b_[i]).tanh_());
    at::Tensor mu = gate_acts.back();
    for (int64_t k = 0; k < members_; ++k) noise_[k].normal_(0.5, sigma_, generators_[k]);
    at::Tensor pre = at::add(noise_, mu);
    at::Tensor z = at::clamp(pre, 0.0, 1.0);
    // prediction network
    std::vector<at::Tensor> pred_acts{at::mul(x_, z)}, linear_in;
    std::vector<std::vector<std::array<at::Tensor, 3>>> caches(layers_norm_);
    for (int64_t i = 0; i < layers; ++i) {
      at::Tensor inputs = pred_acts.back();
      if (i < layers_norm_) inputs = batch_norm(i, inputs, caches[i]);
      linear_in.push_back(inputs);
      at::Tensor a = at::bmm(inputs, pred_w_[i]).add_(pred_b_[i]);
      if (i < layers - 1) {
        if (tanh_) a.tanh_(); else a.clamp_(0.0, c10::nullopt);
      }
      pred_acts.push_back(a);
    }
    // backward: cross-entropy (softmax over the classes, minus the one-hot, times each row's weight)
    const at::Tensor& logits = pred_acts.back();
    at::Tensor grad = at::sub(logits, at::amax(logits, {-1}, true)).exp_();
    grad.div_(at::sum(grad, {-1}, true));
    grad.sub_(onehot_).mul_(row_coef_);
    std::vector<at::Tensor> pred_gw(layers), pred_gb(layers);
    for (int64_t i = layers - 1; i >= 0; --i) {
      pred_gw[i] = at::bmm(linear_in[i].transpose(1, 2), grad);
      pred_gb[i] = at::sum(grad, {1}, true);
      grad = at::bmm(grad, pred_w_[i].transpose(1, 2));
      if (i < layers_norm_) grad = batch_norm_backward(i, grad, caches[i]);
      if (i > 0) {
        const at::Tensor& a = pred_acts[i];
        grad = tanh_ ? at::tanh_backward(grad, a) : at::threshold_backward(grad, a, 0.0);
      }
    }
    // through the gates and the clamp
    at::Tensor grad_z = grad.mul_(x_);
    if (kernel_.has_value()) grad_z.add_(at::sub(at::mul(z, *degree_), at::bmm(*kernel_, z)), kernel_alpha_);
    at::Tensor grad_mu = at::hardtanh_backward(grad_z, pre, 0.0, 1.0);
    at::Tensor density = at::add(mu, 0.5).square_().mul_(density_scale_).exp_();
    grad = at::tanh_backward(grad_mu.add_(density, penalty_coef_), mu);
    std::vector<at::Tensor> gate_gw(gates), gate_gb(gates);
    for (int64_t i = gates - 1; i >= 0; --i) {
      gate_gw[i] = at::bmm(i == 0 ? x_t_ : gate_acts[i].transpose(1, 2), grad);
      gate_gb[i] = at::sum(grad, {1}, true);
      if (i > 0) {
        grad = at::bmm(grad, gate_w_[i].transpose(1, 2));
        grad = at::tanh_backward(grad, gate_acts[i]);
      }
    }
    // SGD: grad + weight_decay * param, then param -= lr * grad
    std::vector<at::Tensor> grads;
    for (auto* list : {&gate_gw, &gate_gb, &pred_gw, &pred_gb}) grads.insert(grads.end(), list->begin(), list->end());
    grads.insert(grads.end(), norm_grads_.begin(), norm_grads_.end());
    if (weight_decay_ != 0) at::_foreach_add_(grads, params_, weight_decay_);
    at::_foreach_add_(params_, grads, -lr_);
  }
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::class_<Network>(m, "Network")
      .def(pybind11::init<>())
      .def("add_layer", &Network::add_layer)
      .def("set_domain", &Network::set_domain)
      .def("set_adam", &Network::set_adam)
      .def("set_rows_optimizer", &Network::set_rows_optimizer)
      .def("epoch", &Network::epoch, pybind11::call_guard<pybind11::gil_scoped_release>());
  pybind11::class_<Lspin>(m, "Lspin")
      .def(pybind11::init<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, std::vector<at::Tensor>,
                          std::vector<at::Tensor>, std::vector<at::Tensor>, std::vector<at::Tensor>,
                          std::vector<at::Tensor>, std::vector<at::Tensor>, std::vector<at::Tensor>, double, double,
                          std::vector<at::Generator>, double, bool, c10::optional<at::Tensor>,
                          c10::optional<at::Tensor>, double, double, double, double, double>())
      .def("run", &Lspin::run, pybind11::call_guard<pybind11::gil_scoped_release>());
  m.def("dropout_multipliers", &dropout_multipliers, pybind11::call_guard<pybind11::gil_scoped_release>());
}
