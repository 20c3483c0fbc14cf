// yq_rom: a read-only table (weights, per-channel requantization parameters, SiLU table)
// initialised from a hex file. Registered read so that synthesis can use block RAM.
module yq_rom #(
    parameter AW = 4,
    parameter DW = 8,
    parameter DEPTH = 16,
    parameter INIT_FILE = "rom.hex"
) (
    input wire clk,
    input wire [AW-1:0] addr,
    output reg [DW-1:0] data
);
    (* rom_style = "block" *) reg [DW-1:0] mem [0:DEPTH-1];
    initial $readmemh(INIT_FILE, mem);
    always @(posedge clk) data <= mem[addr];
endmodule
