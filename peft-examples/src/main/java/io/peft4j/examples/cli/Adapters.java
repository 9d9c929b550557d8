package io.peft4j.examples.cli;

import io.peft4j.core.PeftModel;
import java.io.IOException;
import java.nio.file.Path;

/** Loads an adapter onto a loaded model, turning a mismatch into one clear line. */
final class Adapters {

    private Adapters() {}

    /**
     * @param m the base model
     * @param adapter the adapter folder, or null for none
     * @return the wrapped model, or null without an adapter (try-with-resources accepts null)
     */
    static PeftModel load(LoadedModel m, Path adapter) throws IOException {
        if (adapter == null) {
            return null;
        }
        ModelOptions.checkAdapter(adapter);
        try {
            return PeftModel.load(m.block(), adapter);
        } catch (IllegalArgumentException
                | IllegalStateException
                | UnsupportedOperationException e) {
            throw new UserError(
                    "adapter "
                            + adapter
                            + " does not fit "
                            + m.name()
                            + " ("
                            + Models.kind(m.block())
                            + "): "
                            + e.getMessage());
        }
    }
}
