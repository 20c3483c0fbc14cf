`timescale 1ns / 1ps
// tb_yq_sdram: yq_sdram_ctrl against the checking SDRAM model (yq_sdram_model) at 80 MHz,
// the SDRAM clocked inverted as on the board. One port = one controller + one model + a
// seeded traffic generator with its own reference copy of the memory. `+case=N` picks what
// runs (default 0):
//   case 0: p0 (CL 3, 40,000 requests) and p1 (CL 2, 20,000 requests), both with the
//           datasheet timings: every read is compared bit for bit with the reference
//           (bytes never written are not compared), long enough for ~100 refreshes.
//   case 1: p10, a linear sweep with no idle cycles: 32,768 words written, then read back
//           (rows change every 512 words): the sustained rate, one word per cycle less
//           the row changes and refreshes.
//   case 2..8: one controller built with one timing too short; the model must stop the
//           run with `SDRAM VIOLATION <rule>` (exit status non-zero):
//           2 tRCD 12 ns, 3 tRP 12 ns, 4 tRFC 50 ns, 5 refresh every 128 ms / 8192,
//           6 power-up wait 50 us, 7 tRAS 30 ns, 8 tWR 5 ns.
//   case 9: a controller that captures read data one cycle late (RD_EXTRA = 2): the
//           timing is legal, so the model is silent, and the data check must fail.
// Traffic: 4 banks x 64 of the 8192 rows (row = 1237 i + 5 mod 8192, so the high address
// pins toggle) x 512 columns; per request 1/2 the next word, 3/10 a column of the same row,
// 1/5 anywhere; half writes with random byte enables (1/8 partial), 3/4 of the reads back
// to one of the last 256 words written, 1 cycle in 10 idle.
// Output lines:
//   PORT p=P cl=C ops=N writes=W reads=R checked=K mismatches=M refreshes=F act=A pre=E
//        cycles=Y max_ref_gap_ns=G init_ns=I
//   MISMATCH p=P addr=A got=G want=W mask=M     (one per failing read)
//   RESULT PASS | RESULT FAIL | RESULT NO VIOLATION (a negative case that was not caught)
// Stimulus is driven on the falling clock edge with blocking assignments.
module tb_sdram_port #(
    parameter P = 0,
    parameter CLK_HZ = 80000000,
    parameter CL = 3,
    parameter RD_EXTRA = 1,
    parameter SEQ = 0,
    parameter N_OPS = 1000,
    parameter SEED = 32'h1234_5678,
    parameter T_INIT_US = 200,
    parameter T_RCD_NS = 21,
    parameter T_RP_NS = 21,
    parameter T_RAS_NS = 44,
    parameter T_RFC_NS = 66,
    parameter T_WR_NS = 15,
    parameter T_REF_MS = 64
) (
    input wire clk,
    input wire rst,
    output reg done,
    output reg [31:0] fails
);
    localparam NW = 4 * 64 * 512;  // words the traffic touches

    reg req = 1'b0, we = 1'b0;
    reg [23:0] addr = 24'd0;
    reg [15:0] wdata = 16'd0;
    reg [1:0] wbe = 2'b00;
    wire ready, rvalid, init_done;
    wire [15:0] rdata;
    wire cke, cs_n, ras_n, cas_n, we_n, h_oe, m_oe;
    wire [1:0] ba, dqm;
    wire [12:0] a;
    wire [15:0] h_dq, m_dq;
    wire [15:0] dq_in = m_oe ? m_dq : 16'hxxxx;

    yq_sdram_ctrl #(
        .CLK_HZ(CLK_HZ), .CL(CL), .RD_EXTRA(RD_EXTRA), .T_INIT_US(T_INIT_US), .T_RCD_NS(T_RCD_NS),
        .T_RP_NS(T_RP_NS), .T_RAS_NS(T_RAS_NS), .T_RFC_NS(T_RFC_NS), .T_WR_NS(T_WR_NS),
        .T_REF_MS(T_REF_MS)
    ) u_ctrl (
        .clk(clk), .rst(rst), .req(req), .we(we), .addr(addr), .wdata(wdata), .wbe(wbe),
        .ready(ready), .rvalid(rvalid), .rdata(rdata), .init_done(init_done),
        .sd_cke(cke), .sd_cs_n(cs_n), .sd_ras_n(ras_n), .sd_cas_n(cas_n), .sd_we_n(we_n),
        .sd_ba(ba), .sd_a(a), .sd_dqm(dqm), .sd_dq_o(h_dq), .sd_dq_oe(h_oe), .sd_dq_i(dq_in)
    );
    yq_sdram_model #(.MEM_ROW_BITS(6)) u_m (
        .clk(~clk), .cke(cke), .cs_n(cs_n), .ras_n(ras_n), .cas_n(cas_n), .we_n(we_n),
        .ba(ba), .a(a), .dqm(dqm), .dq_i(h_dq), .host_oe(h_oe), .dq_o(m_dq), .dq_oe(m_oe)
    );

    // ---- reference memory, indexed {bank, row index, column} ----
    reg [15:0] ref_d [0:NW-1];
    reg [1:0] ref_w [0:NW-1];   // bytes written
    integer i;
    initial for (i = 0; i < NW; i = i + 1) ref_w[i] = 2'b00;

    // ---- expected reads, in order ----
    reg [15:0] exp_d [0:63];
    reg [1:0] exp_m [0:63];
    reg [23:0] exp_a [0:63];
    integer wp = 0, rp = 0;

    reg [31:0] rs = SEED;
    function [31:0] xs(input [31:0] x);  // xorshift32
        reg [31:0] y;
        begin
            y = x ^ (x << 13);
            y = y ^ (y >> 17);
            xs = y ^ (y << 5);
        end
    endfunction

    integer ops = 0, writes = 0, reads = 0, checked = 0, mism = 0;
    integer cycles = 0;
    integer bank = 0, ridx = 0, col = 0, idx = 0, r = 0;
    reg took = 1'b0;
    integer hist [0:255];  // the last 256 word indices written
    integer hist_n = 0;

    function [23:0] phys(input integer bk, input integer ri, input integer c);
        reg [12:0] row;
        begin
            row = (ri * 1237 + 5) % 8192;
            phys = {row, bk[1:0], c[8:0]};
        end
    endfunction

    task next_request;
        begin
            if (SEQ != 0) begin
                // a linear sweep: N_OPS / 2 words written, then the same words read
                if (ops == N_OPS / 2) begin
                    bank = 0;
                    ridx = 0;
                    col = 0;
                end else if (ops != 0) begin
                    col = col + 1;
                    if (col == 512) begin
                        col = 0;
                        bank = bank + 1;
                        if (bank == 4) begin
                            bank = 0;
                            ridx = (ridx + 1) % 64;
                        end
                    end
                end
                we = ops < N_OPS / 2;
                wbe = 2'b11;
                rs = xs(rs);
                wdata = rs[15:0];
            end else begin
            rs = xs(rs);
            r = rs % 10;
            if (r < 5) begin
                col = col + 1;
                if (col == 512) begin
                    col = 0;
                    bank = (bank + 1) % 4;
                end
            end else if (r < 8) begin
                rs = xs(rs);
                col = rs % 512;
            end else begin
                rs = xs(rs);
                bank = rs % 4;
                rs = xs(rs);
                ridx = rs % 64;
                rs = xs(rs);
                col = rs % 512;
            end
            rs = xs(rs);
            we = rs[0];
            // most reads go back to a word written recently (so they can be compared)
            if (!we && rs[7:6] != 2'b00 && hist_n > 0) begin
                rs = xs(rs);
                r = hist[rs % ((hist_n < 256) ? hist_n : 256)];
                bank = r / (64 * 512);
                ridx = (r / 512) % 64;
                col = r % 512;
            end
            wbe = (rs[3:1] == 3'd0) ? rs[5:4] : 2'b11;
            rs = xs(rs);
            wdata = rs[15:0];
            end
            addr = phys(bank, ridx, col);
            idx = (bank * 64 + ridx) * 512 + col;
        end
    endtask

    always @(posedge clk) begin
        took = req && ready;
        if (init_done) cycles = cycles + 1;
        if (rvalid) begin
            if (rp == wp) begin
                $display("MISMATCH p=%0d: read data with no read outstanding", P);
                mism = mism + 1;
            end else begin
                if (exp_m[rp % 64] != 2'b00) begin
                    checked = checked + 1;
                    if ((exp_m[rp % 64][0] && rdata[7:0] !== exp_d[rp % 64][7:0])
                            || (exp_m[rp % 64][1] && rdata[15:8] !== exp_d[rp % 64][15:8])) begin
                        mism = mism + 1;
                        $display("MISMATCH p=%0d addr=%06h got=%04h want=%04h mask=%0d", P,
                                 exp_a[rp % 64], rdata, exp_d[rp % 64], exp_m[rp % 64]);
                    end
                end
                rp = rp + 1;
            end
        end
    end

    initial begin
        done = 1'b0;
        fails = 0;
        @(negedge clk);
        while (rst) @(negedge clk);
        next_request;
        req = 1'b1;
        while (ops < N_OPS) begin
            @(negedge clk);
            if (took) begin
                // the request just taken: apply it to the reference
                if (we) begin
                    writes = writes + 1;
                    if (wbe[0]) ref_d[idx][7:0] = wdata[7:0];
                    if (wbe[1]) ref_d[idx][15:8] = wdata[15:8];
                    ref_w[idx] = ref_w[idx] | wbe;
                    hist[hist_n % 256] = idx;
                    hist_n = hist_n + 1;
                end else begin
                    reads = reads + 1;
                    exp_d[wp % 64] = ref_d[idx];
                    exp_m[wp % 64] = ref_w[idx];
                    exp_a[wp % 64] = addr;
                    wp = wp + 1;
                end
                ops = ops + 1;
                took = 1'b0;
                next_request;
            end
            rs = xs(rs);
            req = (ops < N_OPS) && (SEQ != 0 || rs % 10 != 0);
        end
        req = 1'b0;
        while (rp != wp) @(negedge clk);
        repeat (8) @(negedge clk);
        $display("PORT p=%0d cl=%0d ops=%0d writes=%0d reads=%0d checked=%0d mismatches=%0d refreshes=%0d act=%0d pre=%0d cycles=%0d max_ref_gap_ns=%0d init_ns=%0d",
                 P, CL, ops, writes, reads, checked, mism, u_m.n_ref, u_m.n_act, u_m.n_pre,
                 cycles, $rtoi(u_m.max_ref_gap), $rtoi(u_m.t_init_done));
        fails = mism + u_m.violations;
        done = 1'b1;
    end
endmodule

module tb_yq_sdram;
    reg clk = 1'b0;
    always #6.25 clk = ~clk;  // 80 MHz
    integer sel = 0;
    reg rst = 1'b1;
    initial begin
        if (!$value$plusargs("case=%d", sel)) sel = 0;
        repeat (4) @(negedge clk);
        rst = 1'b0;
    end
    // Only the selected ports get a clock.
    wire c0 = clk & (sel == 0), c1 = clk & (sel == 1), c2 = clk & (sel == 2), c3 = clk & (sel == 3);
    wire c4 = clk & (sel == 4), c5 = clk & (sel == 5), c6 = clk & (sel == 6);
    wire c7 = clk & (sel == 7), c8 = clk & (sel == 8), c9 = clk & (sel == 9);

    wire [10:0] done;
    wire [31:0] f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10;
    tb_sdram_port #(.P(0), .CL(3), .N_OPS(40000), .SEED(32'h5D4A_0001)) p0 (
        .clk(c0), .rst(rst), .done(done[0]), .fails(f0));
    tb_sdram_port #(.P(1), .CL(2), .N_OPS(20000), .SEED(32'h5D4A_0002)) p1 (
        .clk(c0), .rst(rst), .done(done[1]), .fails(f1));
    tb_sdram_port #(.P(10), .CL(3), .SEQ(1), .N_OPS(65536), .SEED(32'h5D4A_000A)) p10 (
        .clk(c1), .rst(rst), .done(done[10]), .fails(f10));
    tb_sdram_port #(.P(2), .N_OPS(4000), .T_RCD_NS(12)) p2 (
        .clk(c2), .rst(rst), .done(done[2]), .fails(f2));
    tb_sdram_port #(.P(3), .N_OPS(4000), .T_RP_NS(12)) p3 (
        .clk(c3), .rst(rst), .done(done[3]), .fails(f3));
    tb_sdram_port #(.P(4), .N_OPS(4000), .T_RFC_NS(50)) p4 (
        .clk(c4), .rst(rst), .done(done[4]), .fails(f4));
    tb_sdram_port #(.P(5), .N_OPS(4000), .T_REF_MS(128)) p5 (
        .clk(c5), .rst(rst), .done(done[5]), .fails(f5));
    tb_sdram_port #(.P(6), .N_OPS(4000), .T_INIT_US(50)) p6 (
        .clk(c6), .rst(rst), .done(done[6]), .fails(f6));
    tb_sdram_port #(.P(7), .N_OPS(4000), .T_RAS_NS(30)) p7 (
        .clk(c7), .rst(rst), .done(done[7]), .fails(f7));
    tb_sdram_port #(.P(8), .N_OPS(4000), .T_WR_NS(5)) p8 (
        .clk(c8), .rst(rst), .done(done[8]), .fails(f8));
    tb_sdram_port #(.P(9), .N_OPS(4000), .RD_EXTRA(2)) p9 (
        .clk(c9), .rst(rst), .done(done[9]), .fails(f9));

    initial begin
        #1;
        if (sel == 0) begin
            wait (done[0] && done[1]);
            if (f0 == 0 && f1 == 0) $display("RESULT PASS");
            else $display("RESULT FAIL");
        end else if (sel == 1) begin
            wait (done[10]);
            if (f10 == 0) $display("RESULT PASS");
            else $display("RESULT FAIL");
        end else if (sel == 9) begin
            wait (done[9]);
            if (f9 == 0) $display("RESULT PASS");
            else $display("RESULT FAIL");
        end else begin
            wait (done[sel]);
            $display("RESULT NO VIOLATION (case %0d)", sel);
        end
        $finish;
    end
    initial begin
        #50000000;  // 50 ms
        $display("RESULT FAIL (timeout)");
        $finish;
    end
endmodule
