package io.peft4j.core.train;

/**
 * What every Adam-family optimiser shares: its {@link AdamMoments} (the state, the update and its
 * save and load) and its {@link AdamMoments.Hyper hyper-parameters}, with {@link #stateBytes()},
 * {@link #close()} and a description built from them. A subclass takes its steps through {@link
 * AdamMoments#step} and adds what is its own (LIFT's masks, for one).
 */
public abstract class AdamFamilyOptimizer implements PeftOptimizer {

    /** The per-parameter state; this optimiser's own, freed by {@link #close()}. */
    protected final AdamMoments moments = new AdamMoments();

    /** The update's hyper-parameters. */
    protected final AdamMoments.Hyper hyper;

    /**
     * An optimiser with empty state.
     *
     * @param hyper the update's hyper-parameters
     */
    protected AdamFamilyOptimizer(AdamMoments.Hyper hyper) {
        this.hyper = hyper;
    }

    /** {@return the bytes of both moments of every parameter plus 8 per step counter} */
    @Override
    public long stateBytes() {
        return moments.stateBytes();
    }

    /** Frees the moments and every manager this optimiser created. */
    @Override
    public void close() {
        moments.close();
    }

    /**
     * {@code <name>(betas=(<beta1>, <beta2>), eps=<eps><extra>)}, as the optimisers describe
     * themselves in logs.
     *
     * @param name the optimiser's name
     * @param extra the optimiser's own settings after the common ones, e.g. {@code ", T=100"}
     * @return the description
     */
    protected final String describe(String name, String extra) {
        return name
                + "(betas=("
                + hyper.beta1()
                + ", "
                + hyper.beta2()
                + "), eps="
                + hyper.eps()
                + extra
                + ")";
    }
}
