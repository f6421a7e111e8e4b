"""Social LSTM (Alahi et al. 2016): one LSTM per pedestrian, neighbours' hidden states pooled on a
grid around each, the next step predicted as a bivariate Gaussian. One layer holds the three
variants the paper compares (S-LSTM, O-LSTM, vanilla LSTM), trains with teacher forcing and
forecasts by feeding its own predictions back."""

from __future__ import annotations

import keras
from keras import ops

from kerasseq.layers.social import OccupancyPooling, SocialPooling
from kerasseq.losses.bivariate import bivariate_gaussian_params, sample_bivariate_gaussian

POOLINGS = ("social", "occupancy", "none")


@keras.saving.register_keras_serializable(package="kerasseq")
class SocialLSTM(keras.layers.Layer):
    """Every pedestrian of a scene stepped through one shared LSTM, with social pooling.

    At each frame ``t`` pedestrian ``i`` feeds its LSTM with
    ``[φ(dᵢᵗ; W_e), a(Hᵢᵗ; W_a)]``: the ReLU embedding of its displacement
    ``dᵢᵗ = xᵢᵗ − xᵢᵗ⁻¹`` and the ReLU embedding of its pooled tensor ``Hᵢᵗ`` (Alahi et
    al.'s eqs. 1-3): :class:`SocialPooling` of the neighbours' hidden states at ``t − 1``
    (``pooling="social"``), :class:`OccupancyPooling` of their presence (``"occupancy"``:
    O-LSTM) or nothing (``"none"``: the vanilla LSTM). A linear head maps the hidden state
    to the bivariate Gaussian ``(μx, μy, log σx, log σy, ρ before tanh)`` of the next
    displacement ``dᵢᵗ⁺¹`` (eq. 4: exp for σ, tanh for ρ, applied by
    :func:`~kerasseq.losses.bivariate.bivariate_gaussian_params`).

    Displacements rather than the paper's absolute positions feed the embedding, so the
    model does not learn where things are in one scene (leave-one-scene-out tests on another
    scene); the pooling grid uses the positions. A pedestrian absent from a frame (padding,
    not yet or no longer in the scene) keeps its state and is invisible to the others; at its
    first frame its displacement is 0.

    Args:
        units: LSTM width (the paper's 128).
        embedding_dim: width of the displacement embedding and of the pooled-tensor
            embedding (the paper's 64).
        pooling: ``"social"``, ``"occupancy"`` or ``"none"``.
        grid_size: ``N₀``, cells on a side of the pooling grid.
        neighborhood: side of the pooling square, in the units of the positions (metres).
        seed: seed of the sampler (``sample=True``).
        teacher_forced_frames: ``None`` (default) feeds every frame's true displacement
            (teacher forcing). ``n`` feeds the true displacements of the first ``n`` frames
            only and rolls the rest out from the model's own means, as the forecast does
            (closed-loop training, differentiable through the rollout): each rolled-out
            step's Gaussian is returned relative to the *true* previous position, so the
            same targets and loss apply, and its NLL is that of the true position given the
            rolled-out past. Pedestrians absent from frame ``n − 1`` are not rolled out;
            their later steps must be masked in the targets.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``[positions, present]``: float ``(batch, pedestrians, frames, 2)`` and bool
            or 0/1 ``(batch, pedestrians, frames)``; absent positions may hold anything.

    Returns (call): the Gaussian of every next displacement given the true past (teacher
    forcing): raw ``(batch, pedestrians, frames − 1, 5)``, step ``t`` predicting ``d^{t+1}``;
    with ``teacher_forced_frames``, given the rolled-out past from that frame on.

    Forecasting (:meth:`forecast`, in a model through :class:`TrajectoryRollout`): observe the
    frames, then roll out ``steps`` frames feeding each predicted displacement back (the
    mean, or a sample with ``sample=True``, as the paper generates); the pedestrians present
    in the last observed frame move, the others stay absent. It returns the positions
    ``(batch, pedestrians, steps, 2)`` and ``(μx, μy, σx, σy, ρ)`` of each of them
    ``(batch, pedestrians, steps, 5)``, in the units of the input, given the rolled-out past.
    A model trained in closed loop (``teacher_forced_frames``) predicts at each step the
    spread of the position given the observed past, so it samples around its mean forecast
    instead: one draw per pedestrian scaled by each step's Cholesky factor.

    Example:
    >>> layer = SocialLSTM(units=128, pooling="social")
    >>> params = layer([positions, present])  # (8, 32, 20, 2), (8, 32, 20) -> (8, 32, 19, 5)
    >>> future, gaussians = layer.forecast([positions[:, :, :8], present[:, :, :8]], steps=12)

    References:
        Alahi, Goel, Ramanathan, Robicquet, Fei-Fei and Savarese 2016, "Social LSTM: human
        trajectory prediction in crowded spaces", CVPR (section 3).
    """

    def __init__(self, units: int = 128, embedding_dim: int = 64, pooling: str = "social",
                 grid_size: int = 4, neighborhood: float = 4.0, seed=None,
                 teacher_forced_frames: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"Expected pooling in {POOLINGS}. Received: pooling={pooling!r}")
        for name, value in (("units", units), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected a positive integer {name}. Received: {name}={value!r}")
        if teacher_forced_frames is not None and (
                isinstance(teacher_forced_frames, bool) or not isinstance(teacher_forced_frames, int)
                or teacher_forced_frames < 1):
            raise ValueError(f"Expected teacher_forced_frames None or a positive integer. "
                             f"Received: teacher_forced_frames={teacher_forced_frames!r}")
        self.teacher_forced_frames = teacher_forced_frames
        self.units, self.embedding_dim, self.pooling = units, embedding_dim, pooling
        self.grid_size, self.neighborhood, self.seed = grid_size, float(neighborhood), seed
        self.embed = keras.layers.Dense(embedding_dim, activation="relu", name="embed",
                                        dtype=self.dtype_policy)
        self.pool = None
        if pooling == "social":
            self.pool = SocialPooling(grid_size, neighborhood, flatten=True, name="pool",
                                      dtype=self.dtype_policy)
        elif pooling == "occupancy":
            self.pool = OccupancyPooling(grid_size, neighborhood, flatten=True, name="pool",
                                         dtype=self.dtype_policy)
        self.pool_embed = keras.layers.Dense(embedding_dim, activation="relu", name="pool_embed",
                                             dtype=self.dtype_policy) if self.pool else None
        self.cell = keras.layers.LSTMCell(units, name="cell", dtype=self.dtype_policy)
        self.head = keras.layers.Dense(5, name="head", dtype=self.dtype_policy)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        positions, present = input_shape
        if len(positions) != 4 or positions[-1] != 2 or len(present) != 3:
            raise ValueError(f"Expected positions (batch, pedestrians, frames, 2) and present "
                             f"(batch, pedestrians, frames). Received: input_shape={input_shape}")
        if positions[2] is None:
            raise ValueError("SocialLSTM unrolls over frames: give the frames axis a static size")
        self.embed.build((None, 2))
        width = self.embedding_dim
        if self.pool is not None:
            pooled = self.grid_size ** 2 * (self.units if self.pooling == "social" else 1)
            self.pool_embed.build((None, pooled))
            width += self.embedding_dim
        self.cell.build((None, width))
        self.head.build((None, self.units))

    def _step(self, h, c, position, displacement, present):
        """One frame for every pedestrian: ``(h, c, raw Gaussian of the next displacement)``."""
        features = [self.embed(displacement)]  # (batch, P, E)
        if self.pooling == "social":
            features.append(self.pool_embed(self.pool([position, h, present])))
        elif self.pooling == "occupancy":
            features.append(self.pool_embed(self.pool([position, present])))
        x = ops.concatenate(features, axis=-1) if len(features) > 1 else features[0]
        shape = ops.shape(h)
        flat = lambda t: ops.reshape(t, (-1, t.shape[-1]))  # noqa: E731
        _, (h_new, c_new) = self.cell(flat(x), [flat(h), flat(c)])
        keep = ops.expand_dims(present, -1)
        h = ops.where(keep, ops.reshape(h_new, shape), h)
        c = ops.where(keep, ops.reshape(c_new, shape), c)
        return h, c, self.head(h)

    def _observe(self, positions, present):
        """Teacher-forced pass over the given frames: the last ``(h, c)``, the raw Gaussians
        of every next displacement, and the masked positions."""
        present = ops.cast(present, "bool")  # (batch, P, T)
        positions = ops.where(ops.expand_dims(present, -1),
                              ops.cast(positions, self.compute_dtype), 0.0)  # (batch, P, T, 2)
        batch_peds = ops.shape(positions)[:2]
        h = ops.zeros((batch_peds[0], batch_peds[1], self.units), self.compute_dtype)
        c = h
        params = []
        for t in range(positions.shape[2]):
            if t == 0:
                displacement = ops.zeros_like(positions[:, :, 0])
            else:
                both = ops.logical_and(present[:, :, t], present[:, :, t - 1])
                displacement = ops.where(ops.expand_dims(both, -1),
                                         positions[:, :, t] - positions[:, :, t - 1], 0.0)
            h, c, out = self._step(h, c, positions[:, :, t], displacement, present[:, :, t])
            params.append(out)
        return h, c, params, positions, present

    def call(self, inputs):
        positions, present = inputs
        if positions.shape[2] is not None and positions.shape[2] < 2:
            raise ValueError(f"Expected at least 2 frames. Received: positions.shape={positions.shape}")
        frames, observed = positions.shape[2], self.teacher_forced_frames
        if observed is None or frames is None or observed >= frames:
            params = self._observe(positions, present)[2]
            return ops.stack(params[:-1], axis=2)  # (batch, P, T − 1, 5)
        h, c, params, _, seen = self._observe(positions[:, :, :observed], present[:, :, :observed])
        truth = ops.where(ops.expand_dims(ops.cast(present, "bool"), -1),
                          ops.cast(positions, self.compute_dtype), 0.0)
        alive = seen[:, :, -1]
        before, outs, _ = self._roll_out(h, c, truth[:, :, observed - 1], params[-1], alive,
                                         frames - observed)
        for k in range(1, len(outs)):
            # Re-centre on the true position: the Gaussian of the next position stays the same.
            shift = ops.where(ops.expand_dims(alive, -1), before[k] - truth[:, :, observed - 1 + k], 0.0)
            params.append(ops.concatenate([outs[k][..., :2] + ops.cast(shift, outs[k].dtype),
                                           outs[k][..., 2:]], -1))
        return ops.stack(params, axis=2)  # (batch, P, T − 1, 5)

    def forecast(self, inputs, steps: int, sample: bool = False):
        """Observe ``inputs``, then roll out ``steps`` frames (see the class docstring).

        Returns:
            ``[positions (batch, P, steps, 2), gaussians (batch, P, steps, 5)]``.
        """
        if not self.built:  # called directly rather than through __call__
            self.build([tuple(inputs[0].shape), tuple(inputs[1].shape)])
        if sample and self.teacher_forced_frames is not None:
            return self._sample_around_mean(inputs, steps)
        h, c, params, positions, present = self._observe(*inputs)
        before, outs, future = self._roll_out(h, c, positions[:, :, -1], params[-1],
                                              present[:, :, -1], steps, sample)
        gaussians = []
        for x, out in zip(before, outs):
            mu, sigma, rho = bivariate_gaussian_params(out)
            gaussians.append(ops.concatenate([x + ops.cast(mu, self.compute_dtype),
                                              ops.cast(sigma, self.compute_dtype),
                                              ops.cast(rho[..., None], self.compute_dtype)], -1))
        return [ops.stack(future, axis=2), ops.stack(gaussians, axis=2)]

    def _roll_out(self, h, c, x, out, alive, steps, sample=False):
        """Roll ``steps`` frames out from positions ``x`` and the raw Gaussian ``out`` of their
        next displacement, feeding each predicted mean (or a sample) back; the pedestrians not
        ``alive`` stay put. Returns per step the position it starts from, its raw Gaussian and
        the position it reaches."""
        before, outs, after = [], [], []
        for k in range(steps):
            before.append(x)
            outs.append(out)
            step = sample_bivariate_gaussian(out, self.seed_generator) if sample else out[..., :2]
            step = ops.where(ops.expand_dims(alive, -1), ops.cast(step, self.compute_dtype), 0.0)
            x = x + step
            after.append(x)
            if k + 1 < steps:
                h, c, out = self._step(h, c, x, step, alive)
        return before, outs, after

    def _sample_around_mean(self, inputs, steps):
        """Sampled futures of a model trained in closed loop: each step's Gaussian is then the
        distribution of that position given the observed past (the rollout it conditions on
        is the deterministic mean's), so one standard-normal draw per pedestrian, scaled by
        every step's Cholesky factor, gives a smooth future with those marginals. Feeding
        samples back, as for a teacher-forced model, would add each step's already
        cumulative spread again."""
        future, gaussians = self.forecast(inputs, steps)
        alive = ops.cast(inputs[1], "bool")[:, :, -1]
        eps = keras.random.normal((*ops.shape(future)[:2], 1, 2), seed=self.seed_generator,
                                  dtype=self.compute_dtype)
        e1, e2 = eps[..., 0], eps[..., 1]
        sx, sy, rho = gaussians[..., 2], gaussians[..., 3], gaussians[..., 4]
        x = gaussians[..., 0] + sx * e1
        y = gaussians[..., 1] + sy * (rho * e1 + ops.sqrt((1.0 - rho) * (1.0 + rho)) * e2)
        drawn = ops.where(alive[:, :, None, None], ops.stack([x, y], axis=-1), future)
        return [drawn, gaussians]

    def compute_output_shape(self, input_shape):
        batch, peds, frames, _ = input_shape[0]
        return (batch, peds, None if frames is None else frames - 1, 5)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "embedding_dim": self.embedding_dim,
                "pooling": self.pooling, "grid_size": self.grid_size,
                "neighborhood": self.neighborhood, "seed": self.seed,
                "teacher_forced_frames": self.teacher_forced_frames}


@keras.saving.register_keras_serializable(package="kerasseq")
class TrajectoryRollout(keras.layers.Layer):
    """:meth:`SocialLSTM.forecast` as a layer, sharing the weights of a trained
    :class:`SocialLSTM` (a Keras layer gives one output structure per layer, so the
    forecaster is a layer of its own).

    Args:
        model: the :class:`SocialLSTM` to roll out.
        steps: frames to predict (12 in the ETH/UCY protocol).
        sample: feed back sampled displacements (one random future per call) instead of the
            means.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: ``[positions (batch, P, observed, 2), present (batch, P, observed)]``.

    Returns:
        ``[positions (batch, P, steps, 2), gaussians (batch, P, steps, 5)]``.

    Example:
    >>> positions, gaussians = TrajectoryRollout(social_lstm, 12)([observed, present])
    """

    def __init__(self, model: SocialLSTM, steps: int = 12, sample: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, dict):
            model = keras.saving.deserialize_keras_object(model)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"Expected a positive integer steps. Received: steps={steps!r}")
        self.model, self.steps, self.sample = model, steps, bool(sample)

    def build(self, input_shape):
        if not self.model.built:
            self.model.build(input_shape)

    def call(self, inputs):
        return self.model.forecast(inputs, self.steps, self.sample)

    def compute_output_shape(self, input_shape):
        batch, peds = input_shape[0][:2]
        return [(batch, peds, self.steps, 2), (batch, peds, self.steps, 5)]

    def get_config(self):
        return {**super().get_config(), "model": keras.saving.serialize_keras_object(self.model),
                "steps": self.steps, "sample": self.sample}
