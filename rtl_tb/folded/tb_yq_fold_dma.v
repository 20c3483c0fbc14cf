`timescale 1ns / 1ps
// tb_yq_fold_dma: the folded engine's copy unit (yq_fold_dma) between a 4096-word tile memory
// and yq_sdram_ctrl + the checking SDRAM model (yq_sdram_model, every command checked against
// the datasheet; a breach stops the run), clocked at CLK_HZ with the SDRAM clock inverted as
// on the board. The testbench keeps its own copy of the tile and of DRAM and applies every
// copy to them as the descriptor says.
//
//   1. the tile is filled with seeded words and stored four times over DRAM words
//      [0, 16384) (tile stride 0): every DRAM word the test reads is defined;
//   2. N_OPS seeded copies, loads and stores alternating at random: 1-8 segments of 1-300
//      words, strides of the segment plus 0-99 words, random bases (DRAM rows change every
//      512 words, so segments cross rows and banks); between copies the testbench rewrites
//      a few tile words directly. After every load the whole tile is compared with its copy;
//      stores are checked by the loads that read them back and by a final sweep that loads
//      all 16384 words back, 4096 at a time;
//   3. throughput: one store and one load of 4096 contiguous words, cycles from go to done.
//   CORRUPT=1 flips one bit of one word read from DRAM: the run must end in RESULT FAIL.
//   `done` must pulse exactly once per copy, and the unit must never touch the tile or
//   DRAM while idle.
// Output lines:
//   DMA ops=N loads=L stores=S words=W cycles=C mismatches=M
//   STREAM store_cycles=A load_cycles=B words=4096
//   RESULT PASS | RESULT FAIL
module tb_yq_fold_dma;
    parameter CLK_HZ = 50000000;
    parameter N_OPS = 200;
    parameter SEED = 32'h2468_ace1;
    parameter CORRUPT = 0;   // 1: flip one bit of the 5000th word read from DRAM (must fail)
    localparam real HALF = 1.0e9 / CLK_HZ / 2.0;
    localparam TW = 4096, DW = 16384;

    reg clk = 1'b0, rst = 1'b1;
    always #(HALF) clk = ~clk;

    // ---- DUT --------------------------------------------------------------------------
    reg go = 1'b0, dir = 1'b0;
    reg [23:0] d_dram = 0, d_dstride = 0;
    reg [15:0] d_chip = 0, d_cstride = 0, d_nseg = 1, d_seg = 1;
    wire done, c_rd, c_wr, s_req, s_we, s_ready, s_rvalid, init_done;
    wire [15:0] c_addr, c_wdata, s_wdata, s_rdata;
    wire [23:0] s_addr;
    wire [1:0] s_wbe;
    reg [15:0] c_rdata;
    wire [15:0] s_rdata_dut;
    yq_fold_dma #(.CA(16), .DA(24), .NW(16)) u_dma (
        .clk(clk), .rst(rst), .go(go), .done(done),
        .d_dir(dir), .d_dram(d_dram), .d_chip(d_chip), .d_nseg(d_nseg), .d_seg(d_seg),
        .d_dstride(d_dstride), .d_cstride(d_cstride),
        .c_rd(c_rd), .c_wr(c_wr), .c_addr(c_addr), .c_wdata(c_wdata), .c_rdata(c_rdata),
        .s_req(s_req), .s_we(s_we), .s_addr(s_addr), .s_wdata(s_wdata), .s_wbe(s_wbe),
        .s_ready(s_ready), .s_rvalid(s_rvalid), .s_rdata(s_rdata_dut)
    );
    integer nread = 0;
    always @(posedge clk) if (s_rvalid) nread <= nread + 1;
    assign s_rdata_dut = s_rdata ^ {15'd0, CORRUPT != 0 && s_rvalid && nread == 5000};

    // ---- tile memory (1-cycle read) ---------------------------------------------------
    reg [15:0] tile [0:TW-1];
    reg tb_we = 1'b0;
    reg [15:0] tb_a = 0, tb_d = 0;
    always @(posedge clk) begin
        if (c_wr) tile[c_addr[11:0]] <= c_wdata;
        else if (tb_we) tile[tb_a[11:0]] <= tb_d;
        if (c_rd) c_rdata <= tile[c_addr[11:0]];
    end

    // ---- SDRAM ------------------------------------------------------------------------
    wire cke, cs_n, ras_n, cas_n, we_n, h_oe, m_oe;
    wire [1:0] ba, dqm;
    wire [12:0] a;
    wire [15:0] h_dq, m_dq;
    wire [15:0] dq_in = m_oe ? m_dq : 16'hxxxx;
    yq_sdram_ctrl #(.CLK_HZ(CLK_HZ)) u_ctrl (
        .clk(clk), .rst(rst), .req(s_req), .we(s_we), .addr(s_addr), .wdata(s_wdata), .wbe(s_wbe),
        .ready(s_ready), .rvalid(s_rvalid), .rdata(s_rdata), .init_done(init_done),
        .sd_cke(cke), .sd_cs_n(cs_n), .sd_ras_n(ras_n), .sd_cas_n(cas_n), .sd_we_n(we_n),
        .sd_ba(ba), .sd_a(a), .sd_dqm(dqm), .sd_dq_o(h_dq), .sd_dq_oe(h_oe), .sd_dq_i(dq_in)
    );
    yq_sdram_model #(.MEM_ROW_BITS(4)) u_m (
        .clk(~clk), .cke(cke), .cs_n(cs_n), .ras_n(ras_n), .cas_n(cas_n), .we_n(we_n),
        .ba(ba), .a(a), .dqm(dqm), .dq_i(h_dq), .host_oe(h_oe), .dq_o(m_dq), .dq_oe(m_oe)
    );

    // ---- the testbench's copies ---------------------------------------------------------
    reg [15:0] ref_t [0:TW-1];
    reg [15:0] ref_d [0:DW-1];
    reg [31:0] rs = SEED;
    function [31:0] xs(input [31:0] x);
        reg [31:0] y;
        begin
            y = x ^ (x << 13);
            y = y ^ (y >> 17);
            xs = y ^ (y << 5);
        end
    endfunction
    task rnd(output integer v, input integer n);
        begin
            rs = xs(rs);
            v = rs % n;
        end
    endtask

    integer busy_cycles = 0, words = 0, mism = 0, ops = 0, loads = 0, stores = 0;
    integer dones = 0, stray = 0;
    reg running = 1'b0;
    always @(posedge clk) begin
        if (done) dones <= dones + 1;
        if (running) busy_cycles <= busy_cycles + 1;
        if (!running && !rst && (c_rd || c_wr || s_req)) stray <= stray + 1;
    end

    // Run one copy on the DUT and on the copies; returns its cycles from go to done.
    integer t0, k, j, w;
    task copy(input d, input integer dram, input integer chip, input integer nseg,
              input integer seg, input integer dstr, input integer cstr, output integer cyc);
        integer n_before;
        begin
            @(negedge clk);
            dir = d; d_dram = dram; d_chip = chip; d_nseg = nseg; d_seg = seg;
            d_dstride = dstr; d_cstride = cstr;
            n_before = dones;
            go = 1'b1; running = 1'b1; t0 = $time;
            @(negedge clk);
            go = 1'b0;
            while (dones == n_before) @(negedge clk);
            running = 1'b0;
            cyc = ($time - t0) / (2.0 * HALF);
            @(negedge clk);
            if (dones != n_before + 1) begin
                $display("ERROR done pulsed %0d times for one copy", dones - n_before);
                mism = mism + 1;
            end
            for (k = 0; k < nseg; k = k + 1)
                for (j = 0; j < seg; j = j + 1)
                    if (d) ref_d[dram + k * dstr + j] = ref_t[(chip + k * cstr + j) % TW];
                    else ref_t[(chip + k * cstr + j) % TW] = ref_d[dram + k * dstr + j];
            words = words + nseg * seg;
        end
    endtask

    task check_tile;
        begin
            for (k = 0; k < TW; k = k + 1)
                if (tile[k] !== ref_t[k]) begin
                    if (mism < 10)
                        $display("MISMATCH tile[%0d] = %h, want %h (op %0d)", k, tile[k], ref_t[k], ops);
                    mism = mism + 1;
                end
        end
    endtask

    task poke(input integer n);
        integer i, at;
        begin
            for (i = 0; i < n; i = i + 1) begin
                @(negedge clk);
                rnd(at, TW);
                rs = xs(rs);
                tb_a = at; tb_d = rs[15:0]; tb_we = 1'b1;
                ref_t[at] = rs[15:0];
            end
            @(negedge clk);
            tb_we = 1'b0;
        end
    endtask

    integer nseg, seg, ds, cs, dram, chip, cyc, st_cyc, ld_cyc, op;
    initial begin
        for (k = 0; k < TW; k = k + 1) begin
            rs = xs(rs);
            tile[k] = rs[15:0];
            ref_t[k] = rs[15:0];
        end
        repeat (4) @(negedge clk);
        rst = 1'b0;
        while (!init_done) @(negedge clk);
        // 1. define DRAM
        copy(1'b1, 0, 0, 4, TW, TW, 0, cyc);
        // 2. random copies
        for (op = 0; op < N_OPS; op = op + 1) begin
            ops = op;
            rnd(nseg, 8); nseg = nseg + 1;
            rnd(seg, 300); seg = seg + 1;
            rnd(ds, 100); ds = ds + seg;
            rnd(cs, 100); cs = cs + seg;
            rnd(dram, DW - (nseg - 1) * ds - seg + 1);
            rnd(chip, TW - (nseg - 1) * cs - seg + 1);
            rs = xs(rs);
            if (rs[0]) begin
                copy(1'b0, dram, chip, nseg, seg, ds, cs, cyc);
                loads = loads + 1;
                check_tile;
            end else begin
                copy(1'b1, dram, chip, nseg, seg, ds, cs, cyc);
                stores = stores + 1;
            end
            if (op % 8 == 7) poke(16);
        end
        // every DRAM word back through loads
        for (w = 0; w < DW; w = w + TW) begin
            copy(1'b0, w, 0, 1, TW, TW, TW, cyc);
            check_tile;
        end
        // 3. throughput
        copy(1'b1, 4096, 0, 1, 4096, 4096, 4096, st_cyc);
        copy(1'b0, 4096, 0, 1, 4096, 4096, 4096, ld_cyc);
        check_tile;
        $display("DMA ops=%0d loads=%0d stores=%0d words=%0d cycles=%0d mismatches=%0d stray=%0d",
                 N_OPS, loads, stores, words, busy_cycles, mism, stray);
        $display("STREAM store_cycles=%0d load_cycles=%0d words=4096", st_cyc, ld_cyc);
        if (mism == 0 && stray == 0 && loads > 0 && stores > 0) $display("RESULT PASS");
        else $display("RESULT FAIL");
        $finish;
    end
endmodule
