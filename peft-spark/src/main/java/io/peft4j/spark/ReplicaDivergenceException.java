package io.peft4j.spark;

/** Thrown on every worker when the replicas' adapter weights no longer agree. */
public final class ReplicaDivergenceException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message which step and which workers disagree
     */
    public ReplicaDivergenceException(String message) {
        super(message);
    }
}
