`timescale 1ns / 1ps
// yq_sdram_model: behavioural model of a 16-bit SDR SDRAM with 4 banks, 8192 rows and 512
// columns (Micron MT48LC16M16A2, the ULX3S's 32 MB part), for simulation only. It stores
// data and CHECKS every command it receives against the datasheet; each breach prints one
// `SDRAM VIOLATION <rule> ...` line and, with FATAL = 1 (the default), ends the simulation
// with $fatal (a non-zero exit status).
//
// Facts from the Micron 256Mb SDR SDRAM datasheet (MT48LC64M4A2 / 32M8A2 / 16M16A2),
// table "Electrical Characteristics and Recommended AC Operating Conditions" and the
// "Initialization", "Bank/Row Activation", "READs", "WRITEs", "PRECHARGE" and
// "AUTO REFRESH" sections. Default timings are the slowest listed grade's (-75) so any
// grade of the part meets what this model accepts: tRCD = tRP = 20 ns, tRC = 66 ns,
// tRAS = 44 ns .. 120 us, tRFC = 66 ns, tRRD = 15 ns, tWR = 15 ns, tMRD = 2 tCK,
// 8192 AUTO REFRESH per 64 ms; power-up: 100 us of NOP/COMMAND INHIBIT with the clock
// running and CKE high, PRECHARGE ALL, at least two AUTO REFRESH, LOAD MODE REGISTER.
//
// Checked (times measured with $realtime between the clock edges that sampled the commands):
//   init   nothing but NOP/INHIBIT for T_INIT_NS after the first edge with CKE high; then
//          PRECHARGE ALL first; N_INIT_REF refreshes before the mode register; no ACTIVE,
//          READ or WRITE before it
//   mode   BL = 1, sequential, CL 2 or 3, A9 = 0, reserved bits 0 (what the model supports)
//   tRCD   ACTIVE -> READ/WRITE, same bank          tRP   PRECHARGE -> ACTIVE/REFRESH
//   tRC    ACTIVE -> ACTIVE same bank, -> REFRESH    tRRD  ACTIVE -> ACTIVE, other bank
//   tRAS   ACTIVE -> PRECHARGE, and no row open longer than T_RAS_MAX_NS
//   tWR    WRITE -> PRECHARGE, same bank            tRFC  REFRESH -> any command
//   tMRD   LOAD MODE REGISTER -> any command (clock edges)
//   tREFI  after initialisation no more than T_REF_MS / REF_ROWS between refreshes (the
//          average the datasheet requires, held as a maximum)
//   state  ACTIVE only to an idle bank, READ/WRITE only to an open one, REFRESH and LOAD
//          MODE REGISTER only with all banks idle; no auto-precharge, BURST TERMINATE or
//          CKE low (not modelled)
//   bus    a WRITE with the controller driving DQ; never both sides driving DQ at once
//          (read data is driven T_AC_NS after the edge CL edges after READ, until T_OH_NS
//          after the next edge); no X on the command pins
// Memory: MEM_ROW_BITS of the row address index the store (default all 13); a row whose
// low bits collide with a different row already used is reported (`SDRAM MODEL ERROR`):
// testbenches that touch few rows can keep the store small.
// Counters for testbenches: n_act, n_pre, n_rd, n_wr, n_ref, n_init_ref, violations,
// t_init_done (time of the mode register set), max_ref_gap (ns).
// Event-driven behavioural code: blocking assignments for the model's state.
/* verilator lint_off BLKSEQ */
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off SYNCASYNCNET */
module yq_sdram_model #(
    parameter MEM_ROW_BITS = 13,
    parameter FATAL = 1,
    parameter N_INIT_REF = 2,
    parameter real T_INIT_NS = 100000.0,
    parameter real T_RCD_NS = 20.0,
    parameter real T_RP_NS = 20.0,
    parameter real T_RC_NS = 66.0,
    parameter real T_RAS_NS = 44.0,
    parameter real T_RAS_MAX_NS = 120000.0,
    parameter real T_RFC_NS = 66.0,
    parameter real T_RRD_NS = 15.0,
    parameter real T_WR_NS = 15.0,
    parameter T_MRD_CK = 2,
    parameter real T_REFI_NS = 64.0e6 / 8192.0,
    parameter real T_AC_NS = 5.4,
    parameter real T_OH_NS = 3.0
) (
    input wire clk,
    input wire cke,
    input wire cs_n,
    input wire ras_n,
    input wire cas_n,
    input wire we_n,
    input wire [1:0] ba,
    input wire [12:0] a,
    input wire [1:0] dqm,
    input wire [15:0] dq_i,    // what the controller drives
    input wire host_oe,        // the controller drives DQ
    output reg [15:0] dq_o,
    output reg dq_oe
);
    localparam integer SLOTS = 4 << MEM_ROW_BITS;  // bank x stored row
    localparam real EPS = 0.001;
    reg [15:0] mem [0:SLOTS*512-1];
    reg [13:0] tag [0:SLOTS-1];  // {used, row}

    integer n_act = 0, n_pre = 0, n_rd = 0, n_wr = 0, n_ref = 0, n_init_ref = 0;
    integer violations = 0;
    integer ncyc = 0;
    integer init_state = 0;          // 0 waiting for PRECHARGE ALL, 1 refreshing, 2 done
    realtime t0 = -1.0;              // first edge with CKE high
    realtime t_init_done = -1.0;
    realtime max_ref_gap = 0.0;
    realtime t_ref = -1.0e12;        // last REFRESH
    realtime t_any_act = -1.0e12;    // last ACTIVE, any bank
    integer any_act_bank = 0;
    integer c_mrs = -1000;
    realtime t_act [0:3];
    realtime t_pre [0:3];
    realtime t_wr [0:3];
    reg [3:0] open = 4'd0;
    reg [12:0] orow [0:3];
    integer cl = 3;
    // read data pipeline: stage 0 leaves at this edge
    reg rq_v [0:3];
    reg [15:0] rq_d [0:3];

    integer i;
    initial begin
        for (i = 0; i < SLOTS; i = i + 1) tag[i] = 14'd0;
        for (i = 0; i < 4; i = i + 1) begin
            t_act[i] = -1.0e12;
            t_pre[i] = -1.0e12;
            t_wr[i] = -1.0e12;
            orow[i] = 13'd0;
            rq_v[i] = 1'b0;
            rq_d[i] = 16'd0;
        end
        dq_o = 16'd0;
        dq_oe = 1'b0;
    end

    task violation(input [8*12-1:0] rule, input [8*72-1:0] msg);
        begin
            violations = violations + 1;
            $display("SDRAM VIOLATION %0s at %0.1f ns (%m): %0s", rule, $realtime, msg);
            if (FATAL != 0) $fatal(1, "SDRAM VIOLATION %0s", rule);
        end
    endtask

    // `t` since `since` is at least `min` ns.
    task need(input realtime since, input real min, input [8*12-1:0] rule,
              input [8*72-1:0] msg);
        begin
            if ($realtime - since + EPS < min) begin
                $display("SDRAM VIOLATION %0s at %0.1f ns (%m): %0s: %0.3f ns < %0.3f ns", rule,
                         $realtime, msg, $realtime - since, min);
                violations = violations + 1;
                if (FATAL != 0) $fatal(1, "SDRAM VIOLATION %0s", rule);
            end
        end
    endtask

    function integer slot(input [1:0] b, input [12:0] r);
        slot = ({30'd0, b} << MEM_ROW_BITS) | ({19'd0, r} & ((1 << MEM_ROW_BITS) - 1));
    endfunction

    reg [3:0] cmd;
    integer b, s, w;
    reg [15:0] d;
    always @(posedge clk) begin
        ncyc = ncyc + 1;
        // read data leaving the device at this edge
        if (rq_v[0]) begin
            dq_o <= #(T_AC_NS) rq_d[0];
            dq_oe <= #(T_AC_NS) 1'b1;
        end else if (dq_oe) begin
            dq_oe <= #(T_OH_NS) 1'b0;
        end
        for (i = 0; i < 3; i = i + 1) begin
            rq_v[i] = rq_v[i+1];
            rq_d[i] = rq_d[i+1];
        end
        rq_v[3] = 1'b0;

        if (t0 < 0.0) begin
            if (cke === 1'b1) t0 = $realtime;
        end
        if (t0 >= 0.0) begin
            cmd = {cs_n, ras_n, cas_n, we_n};
            if (cke !== 1'b1)
                violation("cke", "CKE low or unknown after power-up (power-down not modelled)");
            else if (^cmd === 1'bx || (cmd[3] == 1'b0 && (^ba === 1'bx || ^a === 1'bx)))
                violation("pins", "X on the command, bank or address pins");
            else if (!cs_n && cmd != 4'b0111) begin
                b = {30'd0, ba};
                if ($realtime - t0 + EPS < T_INIT_NS)
                    violation("init", "a command inside the power-up wait");
                else if (init_state == 0 && !(cmd == 4'b0010 && a[10]))
                    violation("init", "the first command after power-up is not PRECHARGE ALL");
                // every command waits tRFC after REFRESH and tMRD after LOAD MODE REGISTER
                need(t_ref, T_RFC_NS, "tRFC", "a command after REFRESH");
                if (ncyc - c_mrs < T_MRD_CK)
                    violation("tMRD", "a command too soon after LOAD MODE REGISTER");
                case (cmd)
                    4'b0011: begin  // ACTIVE
                        n_act = n_act + 1;
                        if (init_state != 2)
                            violation("init", "ACTIVE before the mode register was set");
                        if (open[b]) violation("state", "ACTIVE to a bank with an open row");
                        need(t_pre[b], T_RP_NS, "tRP", "ACTIVE after PRECHARGE");
                        need(t_act[b], T_RC_NS, "tRC", "ACTIVE after ACTIVE, same bank");
                        if (any_act_bank != b)
                            need(t_any_act, T_RRD_NS, "tRRD", "ACTIVE after ACTIVE, other bank");
                        s = slot(ba, a);
                        if (tag[s][13] && tag[s][12:0] != a)
                            $fatal(1, "SDRAM MODEL ERROR: row %0d shares storage with row %0d (MEM_ROW_BITS = %0d)",
                                   a, tag[s][12:0], MEM_ROW_BITS);
                        tag[s] = {1'b1, a};
                        open[b] = 1'b1;
                        orow[b] = a;
                        t_act[b] = $realtime;
                        t_any_act = $realtime;
                        any_act_bank = b;
                    end
                    4'b0101, 4'b0100: begin  // READ, WRITE
                        if (init_state != 2)
                            violation("init", "READ/WRITE before the mode register was set");
                        if (!open[b]) violation("state", "READ/WRITE to an idle bank");
                        if (a[10]) violation("mode", "auto-precharge is not modelled");
                        need(t_act[b], T_RCD_NS, "tRCD", "READ/WRITE after ACTIVE");
                        w = slot(ba, orow[b]) * 512 + {23'd0, a[8:0]};
                        if (cmd == 4'b0101) begin
                            n_rd = n_rd + 1;
                            rq_v[cl-1] = 1'b1;
                            rq_d[cl-1] = mem[w];
                        end else begin
                            n_wr = n_wr + 1;
                            if (!host_oe) violation("bus", "WRITE without write data on DQ");
                            d = mem[w];
                            if (!dqm[0]) d[7:0] = dq_i[7:0];
                            if (!dqm[1]) d[15:8] = dq_i[15:8];
                            mem[w] = d;
                            t_wr[b] = $realtime;
                        end
                    end
                    4'b0010: begin  // PRECHARGE (A10: all banks)
                        n_pre = n_pre + 1;
                        for (i = 0; i < 4; i = i + 1)
                            if (a[10] || i == b) begin
                                if (open[i]) begin
                                    need(t_act[i], T_RAS_NS, "tRAS", "PRECHARGE after ACTIVE");
                                    need(t_wr[i], T_WR_NS, "tWR", "PRECHARGE after WRITE");
                                end
                                open[i] = 1'b0;
                                t_pre[i] = $realtime;
                            end
                        if (init_state == 0) init_state = 1;
                    end
                    4'b0001: begin  // AUTO REFRESH
                        if (open != 4'd0) violation("state", "REFRESH with a row open");
                        for (i = 0; i < 4; i = i + 1) begin
                            need(t_pre[i], T_RP_NS, "tRP", "REFRESH after PRECHARGE");
                            need(t_act[i], T_RC_NS, "tRC", "REFRESH after ACTIVE");
                        end
                        if (init_state == 2) begin
                            n_ref = n_ref + 1;
                            if ($realtime - t_ref > max_ref_gap) max_ref_gap = $realtime - t_ref;
                        end else n_init_ref = n_init_ref + 1;
                        t_ref = $realtime;
                    end
                    4'b0000: begin  // LOAD MODE REGISTER
                        if (open != 4'd0) violation("state", "LOAD MODE REGISTER with a row open");
                        for (i = 0; i < 4; i = i + 1)
                            need(t_pre[i], T_RP_NS, "tRP", "LOAD MODE REGISTER after PRECHARGE");
                        if (init_state == 1 && n_init_ref < N_INIT_REF)
                            violation("init", "LOAD MODE REGISTER before the power-up refreshes");
                        if (a[2:0] != 3'b000 || a[3] || a[9] || a[8:7] != 2'b00 || a[12:10] != 3'b000
                                || ba != 2'b00)
                            violation("mode", "only BL = 1, sequential, A9 = 0 is modelled");
                        if (a[6:4] != 3'd2 && a[6:4] != 3'd3) violation("mode", "CAS latency not 2 or 3");
                        cl = {29'd0, a[6:4]};
                        c_mrs = ncyc;
                        if (init_state == 1) begin
                            init_state = 2;
                            t_init_done = $realtime;
                        end
                    end
                    default: violation("state", "BURST TERMINATE is not modelled");
                endcase
            end
            // rows open too long; refresh overdue
            for (i = 0; i < 4; i = i + 1)
                if (open[i] && $realtime - t_act[i] > T_RAS_MAX_NS) begin
                    violation("tRAS", "a row open longer than tRAS(max)");
                    t_act[i] = $realtime;
                end
            if (init_state == 2 && $realtime - t_ref > T_REFI_NS + EPS) begin
                $display("SDRAM VIOLATION tREFI at %0.1f ns (%m): %0.3f ns since the last REFRESH > %0.3f ns",
                         $realtime, $realtime - t_ref, T_REFI_NS);
                violations = violations + 1;
                if (FATAL != 0) $fatal(1, "SDRAM VIOLATION tREFI");
                t_ref = $realtime;
            end
        end
    end

    // both sides driving DQ
    always @(host_oe or dq_oe)
        if (host_oe === 1'b1 && dq_oe === 1'b1)
            violation("bus", "controller and SDRAM drive DQ at the same time");
endmodule
