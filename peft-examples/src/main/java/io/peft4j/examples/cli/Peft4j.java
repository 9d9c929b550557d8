package io.peft4j.examples.cli;

import ai.djl.engine.EngineException;
import io.peft4j.core.train.NonFiniteLossException;
import io.peft4j.models.CheckpointException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * The {@code peft4j} command line: {@code demo}, {@code train}, {@code eval}, {@code generate},
 * {@code merge}, {@code forward}. User errors (bad arguments, missing files, a model/adapter
 * mismatch, malformed data) print one line on stderr and exit with 2; a diverged training run exits
 * with 3.
 */
@Command(
        showDefaultValues = true,
        name = "peft4j",
        mixinStandardHelpOptions = true,
        version = "peft4j 0.1.0-SNAPSHOT",
        description =
                "Parameter-efficient fine-tuning on DJL: train, evaluate, generate, merge, inspect.",
        subcommands = {
            DemoCommand.class,
            TrainCommand.class,
            EvalCommand.class,
            GenerateCommand.class,
            MergeCommand.class,
            ForwardCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Peft4j implements Runnable {

    /** Exit status of a user error. */
    public static final int USAGE = 2;

    /** Exit status of a run stopped by a NaN/Inf loss. */
    public static final int DIVERGED = 3;

    @picocli.CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(
            names = "--verbose",
            scope = CommandLine.ScopeType.INHERIT,
            description =
                    "Also show DJL's info lines and warnings and libtorch's C++ warnings on stderr"
                            + " (hidden by default).")
    boolean verbose;

    @Override
    public void run() {
        throw new ParameterException(
                spec.commandLine(), "no command given; try 'peft4j demo' or 'peft4j --help'");
    }

    /**
     * Runs the CLI and exits with its status.
     *
     * @param args the arguments
     */
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /**
     * Runs the CLI.
     *
     * @param args the arguments
     * @return the exit status (0: success)
     */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    /**
     * @return the configured command line (errors as one line)
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Peft4j());
        cl.setParameterExceptionHandler(Peft4j::badArguments);
        cl.setExecutionExceptionHandler(Peft4j::failed);
        cl.setExecutionStrategy(Peft4j::execute);
        return cl;
    }

    /**
     * Runs the parsed command after the process settings (logging, threads, quiet engine). Help,
     * version and a missing command never load the engine, so they stay fast.
     */
    private static int execute(ParseResult parsed) {
        List<CommandLine> chain = parsed.asCommandLineList();
        boolean verbose =
                chain.stream().anyMatch(c -> c.getParseResult().hasMatchedOption("--verbose"));
        boolean helpOnly =
                chain.stream().anyMatch(c -> c.isUsageHelpRequested() || c.isVersionHelpRequested())
                        || parsed.subcommand() == null
                        || chain.get(chain.size() - 1).getCommand()
                                instanceof CommandLine.HelpCommand;
        QuietRuntime.configure(verbose);
        if (!helpOnly) {
            io.peft4j.core.engine.MklCpuDispatch.install(); // before any command's first GEMM
            QuietRuntime.quietEngine(verbose);
        }
        return new CommandLine.RunLast().execute(parsed);
    }

    private static int badArguments(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        err.println(
                cmd.getCommandSpec().qualifiedName()
                        + ": "
                        + oneLine(e.getMessage())
                        + " (see '"
                        + cmd.getCommandSpec().qualifiedName()
                        + " --help')");
        err.flush();
        return USAGE;
    }

    private static int failed(Exception e, CommandLine cmd, ParseResult parsed) throws Exception {
        String name = cmd.getCommandSpec().qualifiedName();
        PrintWriter err = cmd.getErr();
        if (e instanceof NonFiniteLossException) {
            err.println(
                    name
                            + ": training stopped: "
                            + oneLine(e.getMessage())
                            + " (try a lower --lr)");
            err.flush();
            return DIVERGED;
        }
        String message = userMessage(e);
        if (message == null) {
            throw e; // a bug: keep the stack trace
        }
        err.println(name + ": error: " + oneLine(message));
        err.flush();
        return USAGE;
    }

    /** The one-line message of a user error, or null for anything else. */
    static String userMessage(Throwable e) {
        if (e instanceof UserError
                || e instanceof CheckpointException
                || e instanceof IllegalArgumentException) {
            return e.getMessage();
        }
        if (e instanceof NoSuchFileException) {
            return "no such file: " + e.getMessage();
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied: " + e.getMessage();
        }
        if (e instanceof FileAlreadyExistsException) {
            return "already exists: " + e.getMessage();
        }
        if (e instanceof UncheckedIOException) {
            String cause = userMessage(e.getCause());
            return e.getMessage()
                    + (cause != null && !e.getMessage().contains(cause) ? ": " + cause : "");
        }
        if (e instanceof java.io.IOException) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
        if (e instanceof EngineException
                && e.getMessage() != null
                && e.getMessage().contains("out of memory")) {
            return "the device ran out of memory; lower --batch-size or --max-length";
        }
        return null;
    }

    private static String oneLine(String s) {
        return s == null ? "(no message)" : s.strip().replaceAll("\\s*\\R\\s*", "; ");
    }
}
