package io.peft4j.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;

import io.peft4j.core.PeftModel;
import io.peft4j.core.contract.TestModels;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * Child process for {@link CrashSafetyTest}: saves the same adapter over and over, every tensor
 * filled with the save's number / 1000, and prints "saved N" once each save has returned.
 */
public final class SaveLoopMain {

    private SaveLoopMain() {}

    public static void main(String[] args) throws Exception {
        io.peft4j.core.engine.MklCpuDispatch.install(); // first thing: MKL's fast path on AMD CPUs
        Path dir = Paths.get(args[0]);
        int saves = Integer.parseInt(args[1]);
        try (NDManager manager = NDManager.newBaseManager();
                PeftModel peft = PeftModel.wrap(TestModels.transformer(manager, 1),
                        LoraConfig.builder().rank(8).targets("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj").build())) {
            for (int n = 1; n <= saves; n++) {
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
