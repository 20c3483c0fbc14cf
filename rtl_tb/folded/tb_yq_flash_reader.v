`timescale 1ns / 1ps
// tb_yq_flash_reader: yq_flash_reader against the W25Q128JV model (yq_flash_model), five
// reader/flash pairs side by side at CLK_HZ = 50 MHz:
//   p0 quad (EBh), a flash with QE = 0 (the reader must set it, volatile): every range below,
//      random consumer stalls, the cycle formula, aborts with `stop`;
//   p1 dual (BBh), p2 single (0Bh): formula and one stalled range;
//   p3 quad with QE fixed at 1 (the iCEBreaker's -IQ part): formula, no status write;
//   p4 quad with SKIP_RPD = 1: the model must report a command to a powered-down flash;
//   p5 the model alone, driven pin by pin: each of its checks must fire (tb_model_checks).
// The flash image is IMAGE (IMAGE_BYTES bytes, one hex byte a line) at 1 MiB; every byte
// taken is compared with the testbench's own copy of it (FFh outside). Output lines:
//   INIT p=P cycles=N                     first edge after reset to the first edge ready is seen
//   CYCLES p=P mode=M first=F per=B gap=G measured on reads without stalls
//   RANGE p=P addr=A len=L fnv=H          FNV-1a 32 of the bytes of a complete read
//   RESULT PASS | RESULT FAIL
// Stimulus is driven on the falling clock edge with blocking assignments.
module tb_flash_port #(
    parameter P = 0,
    parameter MODE = 2,
    parameter QE_INIT = 0,
    parameter SKIP_RPD = 0,
    parameter SEED = 32'h1234_5678,
    parameter CLK_HZ = 50000000,
    parameter IMAGE = "flash_image.hex",
    parameter IMAGE_BYTES = 262144,
    parameter OFFSET = 24'h100000
) (
    input wire clk,
    input wire rst,
    output reg done,
    output reg [31:0] fails
);
    localparam MEM_BYTES = OFFSET + IMAGE_BYTES;
    // Independent of the reader: the datasheet's clock counts [DS 8.2.7, 8.2.10, 8.2.11].
    localparam LANES = (MODE == 2) ? 4 : (MODE == 1) ? 2 : 1;
    localparam HDR = (MODE == 2) ? 8 + 6 + 2 + 4 : (MODE == 1) ? 8 + 12 + 4 : 8 + 24 + 8;
    localparam EXP_FIRST = 2 * (HDR + 8 / LANES) + 1;
    localparam EXP_PER = 16 / LANES;
    localparam EXP_GAP = (CLK_HZ + 19999999) / 20000000;  // ceil(50 ns * CLK_HZ)

    reg req = 1'b0, stop = 1'b0, stall = 1'b0;
    reg [23:0] addr = 24'd0;
    reg [23:0] len = 24'd0;
    wire ready, fail, valid;
    wire [7:0] data;
    wire f_clk, f_csb, f_err;
    wire [3:0] h_o, h_oe, f_o, f_oe;
    // Bus with weak pull-ups; two drivers on one line is an error.
    wire [3:0] bus = (h_o & h_oe) | (f_o & f_oe) | ~(h_oe | f_oe);

    yq_flash_reader #(.CLK_HZ(CLK_HZ), .MODE(MODE), .LW(24), .SKIP_RPD(SKIP_RPD)) u_rd (
        .clk(clk), .rst(rst), .ready(ready), .fail(fail), .req(req), .addr(addr), .len(len),
        .stop(stop), .data(data), .valid(valid), .stall(stall), .flash_clk(f_clk),
        .flash_csb(f_csb), .flash_io_o(h_o), .flash_io_oe(h_oe), .flash_io_i(bus));
    yq_flash_model #(.IMAGE(IMAGE), .OFFSET(OFFSET), .MEM_BYTES(MEM_BYTES), .QE_INIT(QE_INIT))
        u_fl (.csb(f_csb), .sck(f_clk), .io_i(bus), .io_o(f_o), .io_oe(f_oe), .error(f_err));

    reg [7:0] image [0:IMAGE_BYTES-1];
    initial $readmemh(IMAGE, image);
    function [7:0] expect_at;
        input [23:0] a;
        expect_at = (a >= OFFSET && a - OFFSET < IMAGE_BYTES) ? image[a - OFFSET] : 8'hFF;
    endfunction

    integer cyc = 0;
    always @(posedge clk) cyc <= cyc + 1;
    reg contention = 1'b0;
    always @(negedge clk) if (|(h_oe & f_oe) && !contention) begin
        $display("TB ERROR p=%0d: host and flash drive io %b at the same time", P, h_oe & f_oe);
        contention = 1'b1;
    end

    // Coverage: edges on which the reader holds SCK high because both output slots are full.
    integer pauses = 0;
    always @(posedge clk) if (u_rd.arm_f && u_rd.hold) pauses <= pauses + 1;

    reg [31:0] lfsr = SEED;
    integer t_req = 0, t_last = -1, first = 0, per = 0, gap = -1, taken = 0, expected_total = 0;
    reg clean = 1'b0;  // the previous read had no stalls (gap is measurable)
    task bad;
        input [8*64-1:0] what;
        input integer got;
        input integer want;
        begin
            $display("TB ERROR p=%0d: %0s: got %0d, want %0d", P, what, got, want);
            fails = fails + 1;
        end
    endtask

    // One read: `stall_pct` percent of cycles stalled (0: none, timing measured), and with
    // abort_at >= 0 `stop` after that many bytes (no byte after it may appear).
    task rd;
        input [23:0] a;
        input [23:0] l;
        input integer stall_pct;
        input integer abort_at;
        reg [31:0] h;
        reg [7:0] want;
        integer k, t_prev, g;
        begin
            @(negedge clk);
            addr = a;
            len = l;
            req = 1'b1;
            @(posedge clk);
            while (!ready) @(posedge clk);
            t_req = cyc;
            g = (t_last >= 0) ? t_req - t_last : -1;
            if (clean && stall_pct == 0 && g != EXP_GAP) bad("gap to next req", g, EXP_GAP);
            if (clean && stall_pct == 0) gap = g;
            @(negedge clk);
            req = 1'b0;
            k = 0;
            h = 32'h811C9DC5;
            t_prev = t_req;
            while (k < l && k != abort_at) begin
                lfsr = {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
                stall = (stall_pct > 0) && ((lfsr[15:0] % 100) < stall_pct);
                @(posedge clk);
                if (valid && !stall) begin
                    want = expect_at(a + k[23:0]);
                    if (SKIP_RPD == 0 && data !== want) begin
                        $display("TB ERROR p=%0d: byte %0d of %06h+: %02h, want %02h", P, k, a, data, want);
                        fails = fails + 1;
                    end
                    h = (h ^ {24'd0, data}) * 32'h01000193;
                    if (stall_pct == 0) begin
                        if (k == 0) first = cyc - t_req;
                        if (k == 0 && cyc - t_req != EXP_FIRST) bad("req to first byte", cyc - t_req, EXP_FIRST);
                        if (k == 1) per = cyc - t_prev;
                        if (k > 0 && cyc - t_prev != EXP_PER) bad("cycles per byte", cyc - t_prev, EXP_PER);
                    end
                    t_prev = cyc;
                    k = k + 1;
                end
                @(negedge clk);
            end
            stall = 1'b0;
            t_last = t_prev;
            clean = (stall_pct == 0) && (abort_at < 0);
            taken = taken + k;
            if (abort_at >= 0) begin
                stop = 1'b1;
                @(posedge clk);
                @(negedge clk);
                stop = 1'b0;
                repeat (8 * EXP_PER) begin
                    @(posedge clk);
                    if (valid) bad("byte after stop", 1, 0);
                end
            end else begin
                expected_total = expected_total + l;
                $display("RANGE p=%0d addr=%06h len=%0d fnv=%08h", P, a, l, h);
            end
        end
    endtask

    integer t0 = 0, t_ready;
    always @(posedge clk) if (rst) t0 <= cyc + 1;  // cyc at the first edge out of reset
    initial begin
        done = 1'b0;
        fails = 0;
        @(negedge clk);
        while (rst) @(negedge clk);
        @(posedge clk);
        while (!ready && !fail) @(posedge clk);
        t_ready = cyc;
        $display("INIT p=%0d cycles=%0d", P, t_ready - t0);
        if (fail) bad("reader failed to set QE", 1, 0);
        if (SKIP_RPD != 0) begin
            rd(24'h100000, 24'd4, 0, -1);
            if (!f_err) bad("the flash model did not report the missing ABh", 0, 1);
        end else begin
            rd(24'h100000, 24'd64, 0, -1);
            rd(24'h100040, 24'd16, 0, -1);
            if (P == 0) begin
                rd(24'h10FF00, 24'd70000, 30, -1);                // spans two 64 KiB blocks
                rd(24'h0FFFF0, 24'd40, 60, -1);                   // erased bytes, then the image
                rd(OFFSET + IMAGE_BYTES - 16, 24'd32, 20, -1);   // past the image end
                rd(24'h100123, 24'd1, 0, -1);
                rd(24'h100200, 24'd1000, 0, 10);                  // abort after 10 bytes
                rd(24'h100300, 24'd8, 0, 0);                      // abort before any byte
                rd(24'h100400, 24'd300, 50, -1);
                rd(24'h100800, 24'd200, 95, -1);                  // SCK paused often
                if (pauses == 0) bad("edges with SCK paused", pauses, 1);
            end else begin
                rd(24'h10FFF0, 24'd300, 40, -1);
            end
            $display("CYCLES p=%0d mode=%0d first=%0d per=%0d gap=%0d pauses=%0d", P, MODE, first,
                     per, gap, pauses);
            if (P != 0 && u_fl.bytes_read != expected_total)
                bad("bytes clocked out of the flash", u_fl.bytes_read, expected_total);
            if (P == 0 && u_fl.bytes_read < expected_total + 10)
                bad("bytes clocked out of the flash (with aborts)", u_fl.bytes_read, expected_total + 10);
            if (first != u_rd.FIRST_BYTE_CYCLES) bad("FIRST_BYTE_CYCLES", u_rd.FIRST_BYTE_CYCLES, first);
            if (per != u_rd.BYTE_CYCLES) bad("BYTE_CYCLES", u_rd.BYTE_CYCLES, per);
            if (gap != u_rd.REQ_GAP_CYCLES) bad("REQ_GAP_CYCLES", u_rd.REQ_GAP_CYCLES, gap);
            if (u_fl.sr_writes != ((MODE == 2 && QE_INIT == 0) ? 1 : 0))
                bad("volatile status writes", u_fl.sr_writes, (MODE == 2 && QE_INIT == 0) ? 1 : 0);
            if (f_err) bad("flash model errors", u_fl.errors, 0);
        end
        if (contention) fails = fails + 1;
        done = 1'b1;
    end
endmodule

// The model's own checks, driven pin by pin (SCK half period 20 ns): each step below must
// add exactly the stated number of FLASH ERROR reports.
module tb_model_checks #(
    parameter IMAGE = "flash_image.hex",
    parameter IMAGE_BYTES = 262144
) (
    output reg done,
    output reg [31:0] fails
);
    reg csb = 1'b1, sck = 1'b0;
    reg [3:0] o = 4'b1111, oe = 4'b0000;
    wire [3:0] f_o, f_oe;
    wire f_err;
    wire [3:0] bus = (o & oe) | (f_o & f_oe) | ~(oe | f_oe);
    yq_flash_model #(.IMAGE(IMAGE), .OFFSET(24'h100000), .MEM_BYTES(24'h100000 + IMAGE_BYTES),
        .QE_INIT(0)) u_fl (.csb(csb), .sck(sck), .io_i(bus), .io_o(f_o), .io_oe(f_oe),
        .error(f_err));
    reg [7:0] got;
    integer base, i;

    task bits1;  // one byte out on io0 (io2/io3 high), one byte in from io1
        input [7:0] b;
        begin
            for (i = 7; i >= 0; i = i - 1) begin
                o = {3'b111, b[i]};
                oe = 4'b1101;
                #20 sck = 1'b1;
                got = {got[6:0], bus[1]};
                #20 sck = 1'b0;
            end
        end
    endtask
    task nib4;  // one clock on io0-3
        input [3:0] v;
        begin
            o = v;
            oe = 4'b1111;
            #20 sck = 1'b1;
            #20 sck = 1'b0;
        end
    endtask
    task begin_cmd;
        input [7:0] c;
        begin
            csb = 1'b0;
            bits1(c);
        end
    endtask
    task end_cmd;
        input real gap_ns;
        begin
            #20 csb = 1'b1;
            oe = 4'b0000;
            #(gap_ns);
        end
    endtask
    task expect_errors;
        input [8*48-1:0] what;
        input integer want;
        begin
            if (u_fl.errors - base != want) begin
                $display("TB ERROR model check %0s: %0d reports, want %0d", what,
                         u_fl.errors - base, want);
                fails = fails + 1;
            end
            base = u_fl.errors;
        end
    endtask

    initial begin
        done = 1'b0;
        fails = 0;
        base = 0;
        #100;
        begin_cmd(8'h05); bits1(8'h00); end_cmd(100.0);
        expect_errors("command while powered down", 1);
        begin_cmd(8'hAB); end_cmd(1000.0);
        begin_cmd(8'h05); bits1(8'h00); end_cmd(3000.0);
        expect_errors("CS low inside tRES1", 1);
        begin_cmd(8'h35); bits1(8'h00); end_cmd(100.0);
        expect_errors("status read", 0);
        if (got !== 8'h00) begin
            $display("TB ERROR model check: SR2 = %02h, want 00", got);
            fails = fails + 1;
        end
        begin_cmd(8'h0B);
        csb = 1'b0;
        o = 4'b0111;  // /HOLD low
        #20 sck = 1'b1;
        #20 sck = 1'b0;
        end_cmd(100.0);
        expect_errors("/HOLD low with QE = 0", 1);
        begin_cmd(8'h06); end_cmd(100.0);
        begin_cmd(8'h31); bits1(8'h02); end_cmd(100.0);
        expect_errors("non-volatile status write", 1);
        begin_cmd(8'hEB); repeat (6) nib4(4'h0); end_cmd(100.0);
        expect_errors("EBh with QE = 0", 1);
        begin_cmd(8'h50); end_cmd(20.0);
        begin_cmd(8'h31); bits1(8'h02); end_cmd(100.0);
        expect_errors("CS high below tSHSL2", 1);
        begin_cmd(8'h50); end_cmd(100.0);
        begin_cmd(8'h31); bits1(8'h02); end_cmd(100.0);
        begin_cmd(8'h35); bits1(8'h00); end_cmd(100.0);
        expect_errors("volatile QE write", 0);
        if (got !== 8'h02 || u_fl.sr_writes != 1) begin
            $display("TB ERROR model check: SR2 = %02h after 50h+31h, want 02", got);
            fails = fails + 1;
        end
        begin_cmd(8'h9F); bits1(8'h00); end_cmd(100.0);
        expect_errors("unsupported command", 1);
        begin_cmd(8'hEB); repeat (6) nib4(4'h0); nib4(4'hA); nib4(4'h0); end_cmd(100.0);
        expect_errors("continuous-read mode bits", 1);
        csb = 1'b0;
        #1 sck = 1'b1;
        #20 sck = 1'b0;
        end_cmd(100.0);
        expect_errors("tSLCH", 1);
        csb = 1'b0;
        #20 sck = 1'b1;
        #1 csb = 1'b1;
        #19 sck = 1'b0;
        #100;
        expect_errors("tCHSH", 1);
        if (u_fl.bytes_read != 0) begin
            $display("TB ERROR model check: bytes_read = %0d, want 0", u_fl.bytes_read);
            fails = fails + 1;
        end
        $display("MODEL CHECKS %0s", fails == 0 ? "ok" : "failed");
        done = 1'b1;
    end
endmodule

module tb_yq_flash_reader;
    parameter IMAGE = "flash_image.hex";
    parameter IMAGE_BYTES = 262144;
    reg clk = 1'b0;
    reg rst = 1'b1;
    always #10 clk = ~clk;  // 50 MHz
    wire [5:0] done;
    wire [31:0] f0, f1, f2, f3, f4, f5;
    tb_flash_port #(.P(0), .MODE(2), .QE_INIT(0), .SEED(32'h0BADF00D), .IMAGE(IMAGE),
        .IMAGE_BYTES(IMAGE_BYTES)) p0 (.clk(clk), .rst(rst), .done(done[0]), .fails(f0));
    tb_flash_port #(.P(1), .MODE(1), .QE_INIT(0), .SEED(32'h00C0FFEE), .IMAGE(IMAGE),
        .IMAGE_BYTES(IMAGE_BYTES)) p1 (.clk(clk), .rst(rst), .done(done[1]), .fails(f1));
    tb_flash_port #(.P(2), .MODE(0), .QE_INIT(0), .SEED(32'h5EED5EED), .IMAGE(IMAGE),
        .IMAGE_BYTES(IMAGE_BYTES)) p2 (.clk(clk), .rst(rst), .done(done[2]), .fails(f2));
    tb_flash_port #(.P(3), .MODE(2), .QE_INIT(1), .SEED(32'h13579BDF), .IMAGE(IMAGE),
        .IMAGE_BYTES(IMAGE_BYTES)) p3 (.clk(clk), .rst(rst), .done(done[3]), .fails(f3));
    tb_flash_port #(.P(4), .MODE(2), .QE_INIT(1), .SKIP_RPD(1), .SEED(32'h2468ACE0),
        .IMAGE(IMAGE), .IMAGE_BYTES(IMAGE_BYTES)) p4 (.clk(clk), .rst(rst), .done(done[4]),
        .fails(f4));
    tb_model_checks #(.IMAGE(IMAGE), .IMAGE_BYTES(IMAGE_BYTES)) p5 (.done(done[5]), .fails(f5));
    initial begin
        repeat (3) @(negedge clk);
        rst = 1'b0;
        while (done != 6'b111111 && $time < 64'd40000000) @(negedge clk);
        if (done != 6'b111111) $display("TB ERROR: timeout, done = %b", done);
        if (done == 6'b111111 && f0 + f1 + f2 + f3 + f4 + f5 == 0) $display("RESULT PASS");
        else $display("RESULT FAIL");
        $finish;
    end
endmodule
