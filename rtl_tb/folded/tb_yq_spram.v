`timescale 1ns / 1ps
// tb_yq_spram: random reads and byte writes against a reference array.
//
// Three in four addresses come from a small pool in every bank (its first and last words and
// a few others), so most reads hit written data; the rest are anywhere in the 64K words. Each
// cycle is idle, a read or a write with a random byte-enable pair (00 included). Checks:
// rdata equals the reference (on the bytes written so far) in every cycle after a read until
// the next access; with X-propagating simulators (not Verilator) rdata is all X after a write
// to the bank read last, as the interface documents.
// With -DGATE the device is a synthesized netlist (no parameters).
// Prints "RESULT PASS" or "RESULT FAIL ..." and finishes.
module tb_yq_spram;
    parameter IMPL = "generic";
    parameter CYCLES = 20000;
    parameter SEED = 1;

    reg clk = 1'b0;
    always #5 clk = ~clk;

    reg cs = 1'b0, we = 1'b0;
    reg [15:0] addr = 16'd0, wdata = 16'd0;
    reg [1:0] be = 2'b00;
    wire [15:0] rdata;

`ifdef GATE
    yq_spram dut (
`else
    yq_spram #(.IMPL(IMPL)) dut (
`endif
        .clk(clk), .cs(cs), .we(we), .addr(addr), .wdata(wdata), .be(be), .rdata(rdata)
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

    reg [15:0] ref_mem [0:65535];
    reg [1:0] ref_known [0:65535];  // bytes written so far
    reg [15:0] pool [0:31];         // 8 addresses per bank

    // What rdata must show in this cycle: 0 nothing, 1 the word read, 2 all X.
    integer expect_kind = 0;
    reg [15:0] exp_word;
    reg [1:0] exp_known;
    reg [1:0] read_bank = 2'd0;
    integer errors = 0, reads = 0, writes = 0, checked = 0;
    integer n, i;
    reg [15:0] mask16;

    initial begin
        rs = SEED;
        for (i = 0; i < 65536; i = i + 1) begin
            ref_known[i] = 2'b00;
            ref_mem[i] = 16'd0;
        end
        for (i = 0; i < 32; i = i + 1) begin
            rnd;
            case (i % 8)
                0: pool[i] = {i[4:3], 14'h0000};
                1: pool[i] = {i[4:3], 14'h3fff};
                default: pool[i] = {i[4:3], r[13:0]};
            endcase
        end
        repeat (2) @(negedge clk);
        for (n = 0; n < CYCLES + 2; n = n + 1) begin
            // ---- check this cycle's output (the access of the previous cycle is done)
            mask16 = {{8{exp_known[1]}}, {8{exp_known[0]}}};
            if (expect_kind == 1) begin
                checked = checked + 1;
                if ((rdata & mask16) !== (exp_word & mask16)) begin
                    errors = errors + 1;
                    if (errors < 10)
                        $display("cycle %0d: rdata %h, expected %h (known bytes %b)", n, rdata,
                                 exp_word, exp_known);
                end
            end
`ifndef VERILATOR
            if (expect_kind == 2 && rdata !== 16'hxxxx) begin
                errors = errors + 1;
                if (errors < 10) $display("cycle %0d: rdata %h after a write, expected X", n, rdata);
            end
`endif
            // ---- next access
            rnd;
            if (n >= CYCLES || r[1:0] == 2'd0) begin
                cs = 1'b0;
                we = r[2];  // don't care while idle
                addr = r[31:16];
            end else begin
                cs = 1'b1;
                we = r[2];
                addr = (r[7:5] != 3'd0) ? pool[r[12:8]] : r[31:16];
                rnd;
                wdata = r[15:0];
                be = r[17:16];
                if (we) begin
                    writes = writes + 1;
                    if (be[0]) ref_mem[addr][7:0] = wdata[7:0];
                    if (be[1]) ref_mem[addr][15:8] = wdata[15:8];
                    ref_known[addr] = ref_known[addr] | be;
                    if (addr[15:14] == read_bank) expect_kind = 2;
                end else begin
                    reads = reads + 1;
                    read_bank = addr[15:14];
                    exp_word = ref_mem[addr];
                    exp_known = ref_known[addr];
                    expect_kind = 1;
                end
            end
            @(negedge clk);
        end
        if (errors == 0)
            $display("RESULT PASS reads=%0d writes=%0d checked=%0d", reads, writes, checked);
        else
            $display("RESULT FAIL errors=%0d", errors);
        $finish;
    end
endmodule
