package io.peft4j.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * Child process for {@link CrashSafetyTest}: saves an adapter over and over into one folder, every
 * tensor filled with the save's number / 1000, and prints "saved N" once each save has returned.
 * With a third argument "alternate", odd saves are r=4, alpha=16 and even saves r=16, alpha=64, so
 * a folder holding the config of one save and the tensors of another is detected (it does not load,
 * or its alpha does not match the parity of its values).
 */
public final class SaveLoopMain {

    private SaveLoopMain() {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        Path dir = Paths.get(args[0]);
        int saves = Integer.parseInt(args[1]);
        boolean alternate = args.length > 2 && args[2].equals("alternate");
        try (NDManager manager = NDManager.newBaseManager()) {
            PeftModel[] models = new PeftModel[alternate ? 2 : 1];
            for (int i = 0; i < models.length; i++) {
                int rank = alternate ? (i == 0 ? 16 : 4) : 8;
                float alpha = alternate ? (i == 0 ? 64 : 16) : 8;
                models[i] =
                        PeftModel.wrap(
                                TestModels.transformer(manager, 1),
                                LoraConfig.builder()
                                        .rank(rank)
                                        .alpha(alpha)
                                        .targets(
                                                "q_proj",
                                                "k_proj",
                                                "v_proj",
                                                "o_proj",
                                                "up_proj",
                                                "down_proj")
                                        .build());
            }
            for (int n = 1; n <= saves; n++) {
                PeftModel peft = models[n % models.length];
                for (Parameter p : peft.trainableParameters().values()) {
                    float[] v = new float[(int) p.getArray().size()];
                    Arrays.fill(v, n / 1000f);
                    p.getArray().set(v);
                }
                peft.save(dir);
                System.out.println("saved " + n);
                System.out.flush();
            }
        }
    }
}
