`timescale 1ns / 1ps
// tb_yq_mac_array: random taps against a behavioural reference computed here.
//
// Sums of 1..MAXLEN taps, mostly back to back, with idle cycles between and inside sums,
// single-tap sums (first and last together), sums abandoned by a new `first` before their
// `last`, and values biased towards -128/127 so sums wrap when ACC_W is small. Every cycle
// the testbench checks: acc_valid is high exactly LAT = 5 cycles after each tap with `last`,
// and acc equals the reference sums from that cycle until the next acc_valid.
// With -DGATE the device is a synthesized netlist (no parameters; LANES/ACC_W must match).
// Prints "RESULT PASS" or "RESULT FAIL ..." and finishes.
module tb_yq_mac_array;
    parameter LANES = 16;
    parameter ACC_W = 32;
    parameter IMPL = "generic";
    parameter CYCLES = 3000;
    parameter MAXLEN = 12;
    parameter SEED = 1;

    localparam integer LAT = 5;
    localparam integer AW = ACC_W * LANES;

    reg clk = 1'b0;
    always #5 clk = ~clk;
    integer cyc = 0;
    always @(posedge clk) cyc <= cyc + 1;

    reg rst = 1'b1;
    reg en = 1'b0, first = 1'b0, last = 1'b0;
    reg [7:0] act = 8'd0;
    reg [8*LANES-1:0] w = {8*LANES{1'b0}};
    wire [AW-1:0] acc;
    wire acc_valid;

`ifdef GATE
    yq_mac_array dut (
`else
    yq_mac_array #(.LANES(LANES), .ACC_W(ACC_W), .IMPL(IMPL)) dut (
`endif
        .clk(clk), .rst(rst), .en(en), .first(first), .last(last), .act(act), .w(w),
        .acc(acc), .acc_valid(acc_valid)
    );

    // xorshift32, the same sequence in every simulator
    reg [31:0] rs;
    reg [31:0] r;
    task rnd;
        begin
            rs = rs ^ (rs << 13);
            rs = rs ^ (rs >> 17);
            rs = rs ^ (rs << 5);
            r = rs;
        end
    endtask

    // A random signed byte, one in four an extreme (-128 or 127).
    reg [7:0] b;
    task rbyte;
        begin
            rnd;
            if (r[9:8] == 2'd0) b = r[10] ? 8'h80 : 8'h7f;
            else b = r[7:0];
        end
    endtask

    // Reference: running sums, and the expected results in order with their cycle.
    localparam integer NQ = CYCLES + 8;
    reg signed [ACC_W-1:0] rsum [0:LANES-1];
    reg [AW-1:0] q_acc [0:NQ-1];
    integer q_cyc [0:NQ-1];
    integer q_head = 0, q_tail = 0;
    reg [AW-1:0] held;
    reg held_ok = 1'b0;
    integer errors = 0, sums = 0, taps = 0;
    integer left = 0;   // taps still to send in the current sum (0: next tap starts one)
    integer n, l;

    initial begin
        rs = SEED;
        repeat (3) @(negedge clk);
        rst = 1'b0;
        for (n = 0; n < CYCLES + 2 * LAT; n = n + 1) begin
            @(negedge clk);
            // ---- check the outputs of this cycle
            if (q_head < q_tail && q_cyc[q_head] == cyc) begin
                if (acc_valid !== 1'b1) begin
                    errors = errors + 1;
                    $display("cycle %0d: acc_valid low, sum %0d expected", cyc, q_head);
                end
                held = q_acc[q_head];
                held_ok = 1'b1;
                q_head = q_head + 1;
            end else if (acc_valid !== 1'b0) begin
                errors = errors + 1;
                $display("cycle %0d: acc_valid=%b unexpected", cyc, acc_valid);
            end
            if (held_ok && acc !== held) begin
                errors = errors + 1;
                if (errors < 10) begin
                    for (l = 0; l < LANES; l = l + 1)
                        if (acc[ACC_W*l +: ACC_W] !== held[ACC_W*l +: ACC_W])
                            $display("cycle %0d lane %0d: acc %0d, expected %0d", cyc, l,
                                     $signed(acc[ACC_W*l +: ACC_W]),
                                     $signed(held[ACC_W*l +: ACC_W]));
                end
            end
            // ---- drive the next tap (or an idle cycle)
            rnd;
            if (n >= CYCLES || r[2:0] == 3'd0) begin
                en = 1'b0;
                rnd;
                first = r[0];  // don't-care values while idle
                last = r[1];
                act = r[15:8];
                w = {LANES{r[23:16] ^ r[31:24]}};
            end else begin
                en = 1'b1;
                if (left == 0 || r[7:3] == 5'd0) begin
                    // start a sum (sometimes abandoning an unfinished one)
                    rnd;
                    left = 1 + {16'd0, r[15:0]} % MAXLEN;
                    first = 1'b1;
                end else begin
                    first = 1'b0;
                end
                left = left - 1;
                last = (left == 0);
                rbyte;
                act = b;
                for (l = 0; l < LANES; l = l + 1) begin
                    rbyte;
                    w[8*l +: 8] = b;
                    if (first) rsum[l] = $signed(act) * $signed(b);
                    else rsum[l] = rsum[l] + $signed(act) * $signed(b);
                end
                taps = taps + 1;
                if (last) begin
                    for (l = 0; l < LANES; l = l + 1) q_acc[q_tail][ACC_W*l +: ACC_W] = rsum[l];
                    q_cyc[q_tail] = cyc + LAT;
                    q_tail = q_tail + 1;
                    sums = sums + 1;
                end
            end
        end
        if (q_head != q_tail) begin
            errors = errors + 1;
            $display("%0d sums never came out", q_tail - q_head);
        end
        if (errors == 0)
            $display("RESULT PASS lanes=%0d acc_w=%0d taps=%0d sums=%0d", LANES, ACC_W, taps, sums);
        else
            $display("RESULT FAIL errors=%0d", errors);
        $finish;
    end
endmodule
