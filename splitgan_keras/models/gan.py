"""SplitGAN: the generator, the critic, the class state of the training set, and one training
iteration as a Keras `train_step` (so `Model.fit` compiles it into one tf.function).

One iteration, as in the original: the generator step (skipped at iteration 0), then `n_critic`
critic steps, each on a fresh real batch. The random inputs come with the data (data/pipeline.py:
stateless in seed and iteration), so a resumed run draws the same numbers and each replica gets
its slice of what a single device draws. `critic_step` and `generator_step` take their random
inputs as arguments; tests feed them the original's values.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import tensorflow as tf

from splitgan_keras.models import losses, optimizers
from splitgan_keras.models.repeat import repeat
from splitgan_keras.replicas import Replicas

STOP_REQUESTED = "run/stop_requested"  # the log of an iteration: > 0 when some replica's process asked to stop


def _scales_loss(optimizer) -> bool:
    """True for loss-scale optimizers (Keras' and the NPU's, which subclasses it)."""
    return hasattr(optimizer, "get_scaled_loss")


def _scaled(loss, optimizer):
    """The loss to differentiate: multiplied by the loss scale when the optimizer scales. Call it
    inside the tape, so that the multiplication is recorded."""
    return optimizer.get_scaled_loss(loss) if _scales_loss(optimizer) else loss


def _apply(tape, loss, variables, optimizer, prefix: str, replicas: Replicas, gate=None) -> Dict[str, tf.Tensor]:
    """Applies the gradient of `loss` (unscaled first, if scaled), averaged over the replicas;
    returns the gradient's global norm and, with loss scaling, the scale used. A loss-scale
    optimizer skips the update itself when the gradient is not finite.

    gate: float32 scalar 1 or 0, or None (1), the factor the caller put on `loss`. With 0 the
    gradient is zero and the step changes nothing: from Adam's initial state (zero moments) a zero
    gradient leaves weights and moments as they are, and the optimizer's step count is taken back
    here. A branch around the step would do the same, but a tf.distribute strategy cannot
    synchronise replicas inside control flow.
    """
    grads = tape.gradient(loss, variables)
    logs = {}
    if _scales_loss(optimizer):
        logs[prefix + "/loss_scale"] = tf.cast(optimizer.loss_scale, tf.float32)
        grads = optimizer.get_unscaled_gradients(grads)
    grads = replicas.mean(grads)
    replicas.apply_gradients(optimizer, grads, variables)
    if gate is not None:
        optimizer.iterations.assign_sub(tf.cast(1.0 - gate, optimizer.iterations.dtype))
    logs[prefix + "/grad_norm"] = tf.linalg.global_norm(grads)
    if _scales_loss(optimizer):  # whether the wrapper skipped this update
        # The optimizer's own record where it keeps one: the NPU's decides from the device's float status, and in the
        # 910's saturation mode an fp16 overflow leaves the gradients finite (npu_loss_scale_optimizer.py).
        finite = getattr(optimizer, "last_step_finite", None)
        if finite is None:
            finite = tf.math.is_finite(logs[prefix + "/grad_norm"])
        logs[prefix + "/skipped"] = tf.cast(tf.logical_not(finite), tf.float32)
    return logs


def scale_real(pixels, dequant_noise):
    """x = 2 * (pixels / 256 - 0.5) + noise, the original's order of float32 operations.

    Args:
      pixels: uint8 [N, H, W, 3]; dequant_noise: float32 [N, H, W, 3] in [0, 1/128).

    Returns:
      float32 [N, H, W, 3] in [-1, 1).
    """
    return 2.0 * (tf.cast(pixels, tf.float32) / 256.0 - 0.5) + dequant_noise


class SplitGAN(tf.keras.Model):
    """Trains a Generator and a Critic; holds the labels of the training set.

    State besides the networks (all checkpointed): `example_labels` int32 [N], the current class
    of every training example (a class split rewrites it); `iteration` int64, the number of
    completed generator iterations (it drives the learning-rate decay and seeds the random
    inputs); with train_cfg.ema_decay > 0, `ema_generator`, a Generator whose weights are the
    exponential moving average of the generator's (updated after every generator step).

    `replicas` (replicas.Replicas): the replicas the step runs on; build the model in its scope.
    Each runs on its shard of the batches, with train_cfg.bn_groups spread over them.
    """

    def __init__(self, generator, critic, example_labels: np.ndarray, train_cfg, replicas: Replicas = Replicas(),
                 **kwargs):
        kwargs.setdefault("name", "splitgan")
        super().__init__(**kwargs)
        self.generator, self.critic = generator, critic
        # The EMA generator shares the generator's class state: a split changes both at once.
        self.ema_generator = (type(generator)(**generator.get_config(), class_state=generator.class_state)
                              if train_cfg.ema_decay else None)
        self.cfg, self.replicas = train_cfg, replicas
        self.bn_groups = replicas.bn_groups(train_cfg.bn_groups)  # per replica
        self.example_labels = tf.Variable(np.asarray(example_labels, np.int32), trainable=False,
                                          name="example_labels")
        # Every replica counts the same iterations; the first one's count is the value.
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._stop_request = tf.Variable(0.0, trainable=False, name="stop_request")  # not checkpointed
        self.learning_rate = optimizers.LinearDecay(train_cfg.learning_rate, self.iteration,
                                                    train_cfg.iterations)

    def compile(self, g_optimizer, d_optimizer, xla: bool = False, critic_loop: bool = True, **kwargs):
        """Stores the two optimizers (already wrapped for the device) and builds their slots.

        With `xla`, each iteration is compiled with XLA, as Keras' own `jit_compile` does it (a
        jit-compiled tf.function around train_step), which Keras 2.6's compile does not offer.
        critic_loop: whether the critic steps run in a loop or unrolled (see repeat.py).
        """
        super().compile(**kwargs)
        self.critic_loop = critic_loop
        # The step's logs are replica means already: Keras must report the first replica's, not a
        # sum (Keras 2.15's default under a strategy; Keras 2.6 always takes the first).
        self.distribute_reduction_method = "first"
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self._iteration_function = tf.function(self.iteration_step, jit_compile=True) if xla else self.iteration_step
        self.build_networks()
        optimizers.build(g_optimizer, self.generator.trainable_variables)
        optimizers.build(d_optimizer, self.critic.trainable_variables)

    def build_networks(self) -> None:
        """Creates all network variables (the EMA generator starts as a copy of the generator)."""
        self.generator.build_variables()
        self.critic.build_variables(self.generator.image_size)
        if self.ema_generator is not None:
            self.ema_generator.build_variables()
            self.reset_ema()

    def request_stop(self) -> None:
        """Asks every replica to stop after the next iteration (see callbacks.StopOnSignal)."""
        self._stop_request.assign(1.0)

    @property
    def sampling_generator(self):
        """The generator that samples, evaluation and export use: the EMA generator when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def reset_ema(self) -> None:
        """Sets the EMA generator to the generator's current weights (after they were loaded from elsewhere)."""
        for ema, variable in zip(self.ema_generator.variables, self.generator.variables):
            ema.assign(variable)

    def _update_ema(self, gate) -> None:
        """ema <- d ema + (1 - d) weights, with d = train.ema_decay, or 1 where gate is 0."""
        decay = 1.0 - (1.0 - self.cfg.ema_decay) * gate

        def update(strategy):  # in cross-replica context: mirrored variables are updated on every device
            for ema, variable in zip(self.ema_generator.trainable_variables, self.generator.trainable_variables):
                strategy.extended.update(ema, lambda a, v: a.assign(decay * a + (1.0 - decay) * v), args=(variable,))

        tf.distribute.get_replica_context().merge_call(update)

    def critic_losses(self, x_real, y_real, x_fake, alpha) -> Dict[str, tf.Tensor]:
        """The critic's loss terms; `d/cost` is what its step minimises.

        Args:
          x_real: float32 [B, H, W, 3] scaled real images; y_real: int32 [B] their labels.
          x_fake: float32 [B, H, W, 3] generated with the labels y_real.
          alpha: float32 [B, 1, 1, 1] gradient-penalty interpolation weights.

        Returns:
          Scalars d/wgan (mean fake - mean real score), d/gp (weighted), d/acgan, d/cost,
          d/acc_real, d/acc_fake.
        """
        cfg = self.cfg
        out = self.critic(tf.concat([x_real, x_fake], 0))
        score_real, score_fake = tf.split(out["score"], 2)
        logits_real, logits_fake = tf.split(out["class_logits"], 2)
        wgan = losses.critic_wgan(score_real, score_fake)
        gp = cfg.gp_weight * losses.gradient_penalty(lambda x: self.critic(x)["score"], x_real, x_fake, alpha)
        acgan = losses.class_cross_entropy(logits_real, y_real)
        return {"d/wgan": wgan, "d/gp": gp, "d/acgan": acgan, "d/cost": wgan + gp + cfg.acgan_scale * acgan,
                "d/acc_real": losses.class_accuracy(logits_real, y_real),
                "d/acc_fake": losses.class_accuracy(logits_fake, y_real)}

    def critic_step(self, x_real, y_real, z, alpha) -> Dict[str, tf.Tensor]:
        """One critic update; fakes are G(z, y_real) (z: float32 [B, 128]) in `bn_groups` groups.

        Returns critic_losses' scalars plus d/grad_norm (and d/loss_scale with loss scaling).
        """
        x_fake = self.generator(z, y_real, bn_groups=self.bn_groups)
        with tf.GradientTape() as tape:
            logs = self.critic_losses(x_real, y_real, x_fake, alpha)
            loss = _scaled(logs["d/cost"], self.d_optimizer)
        logs.update(_apply(tape, loss, self.critic.trainable_variables, self.d_optimizer, "d", self.replicas))
        return logs

    def generator_losses(self, z, y) -> Dict[str, tf.Tensor]:
        """The generator's loss terms: g/wgan, g/acgan (unweighted) and g/cost, which its step minimises.

        Args:
          z: float32 [M, 128] noise; y: int32 [M] labels (M = gen_batch_multiple * B).
        """
        out = self.critic(self.generator(z, y, bn_groups=self.bn_groups))
        wgan = losses.generator_wgan(out["score"])
        acgan = losses.class_cross_entropy(out["class_logits"], y)
        return {"g/wgan": wgan, "g/acgan": acgan, "g/cost": wgan + self.cfg.acgan_scale_g * acgan}

    def generator_step(self, z, y, gate=None) -> Dict[str, tf.Tensor]:
        """One generator update (see generator_losses); adds g/grad_norm (and g/loss_scale).
        With `gate` 0 (see _apply) nothing changes: the losses are logged, the gradient is 0."""
        with tf.GradientTape() as tape:
            logs = self.generator_losses(z, y)
            loss = _scaled(logs["g/cost"] if gate is None else logs["g/cost"] * gate, self.g_optimizer)
        logs.update(_apply(tape, loss, self.generator.trainable_variables, self.g_optimizer, "g", self.replicas,
                           gate))
        return logs

    def generator_inputs(self, inputs: Dict[str, tf.Tensor]):
        """The generator step's (z, y) from an iteration's inputs (data/pipeline.py): its noise, float32 [M, 128], and
        uniform labels of the active classes, int32 [M] (the original's floor(draw * classes))."""
        classes = tf.cast(self.generator.class_state.num_active_tensor(), tf.float32)
        return inputs["generator_noise"], tf.cast(inputs["label_draws"] * classes, tf.int32)

    def critic_inputs(self, inputs: Dict[str, tf.Tensor], k):
        """Critic step k's (x_real, y_real, z, alpha) from an iteration's inputs: its real batch scaled, the batch's
        labels looked up in example_labels, and its random draws."""
        x_real = scale_real(inputs["pixels"][k], inputs["dequant_noise"][k])
        y_real = tf.gather(self.example_labels, inputs["indices"][k])
        return x_real, y_real, inputs["critic_noise"][k], inputs["alpha"][k]

    def train_step(self, data):
        """Keras' step: one iteration (iteration_step), XLA-compiled when compiled with xla."""
        return self._iteration_function(data)

    def iteration_step(self, inputs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """One iteration on one replica's inputs (data/pipeline.iteration_inputs), in the original's order.
        Returns the logs (float32 scalars), averaged over the replicas (each replica logs the whole batch's)."""
        # 1. The generator step, then the EMA generator's update. The original has none in iteration 0: there the
        #    step is gated to change nothing (a branch would stop a tf.distribute strategy synchronising replicas).
        gate = tf.cast(self.iteration > 0, tf.float32)
        logs = self.generator_step(*self.generator_inputs(inputs), gate)
        if self.ema_generator is not None:
            self._update_ema(gate)
        # 2. n_critic critic steps, each on its own real batch; d/skipped counts the skipped updates of all.
        in_loop = self.critic_loop and self.replicas.strategy is None
        critic_logs, critic_totals = repeat(lambda k: self.critic_step(*self.critic_inputs(inputs, k)),
                                            self.cfg.n_critic, in_loop)
        logs.update(critic_logs)
        if "d/skipped" in critic_totals:
            logs["d/skipped"] = critic_totals["d/skipped"]
        # 3. What else the iteration reports, then the count that drives the learning rate and the random inputs.
        logs.update({"lr": self.learning_rate(),
                     "split/num_classes": tf.cast(self.generator.class_state.num_active_tensor(), tf.float32),
                     STOP_REQUESTED: tf.identity(self._stop_request)})
        self.iteration.assign_add(1)
        return self.replicas.mean(logs)
